#ifndef DDP_ALLOCATION_COUNTER_H
#define DDP_ALLOCATION_COUNTER_H

/// Heap calls made by the calling thread between `allocation_counting_begin` and
/// `allocation_counting_end` (code measured this way must run on that thread alone). The test binary that links this target gets its own malloc, calloc, realloc, free,
/// posix_memalign, aligned_alloc, memalign, valloc and pvalloc: ELF symbol interposition makes
/// them the ones every library calls (Swift's runtime allocates through malloc/posix_memalign),
/// and each forwards to glibc's allocator (`__libc_malloc` ...), so memory behaves as usual.
typedef struct {
    /// malloc, calloc, realloc and the aligned allocators.
    long allocations;
    /// free, and realloc to size 0.
    long frees;
} AllocationCounts;

/// Resets the calling thread's counts and starts counting its calls.
void allocation_counting_begin(void);

/// Stops counting and returns the calling thread's counts since `allocation_counting_begin`.
AllocationCounts allocation_counting_end(void);

#endif
