#ifndef DDP_ALLOCATION_COUNTER_H
#define DDP_ALLOCATION_COUNTER_H

/// Heap calls made by the calling thread between `allocation_counting_begin` and
/// `allocation_counting_end` (code measured this way must run on that thread alone). The test
/// binary that links this target gets its own malloc, calloc, realloc, free, posix_memalign,
/// aligned_alloc, memalign, valloc and pvalloc: ELF symbol interposition makes them the ones
/// every library calls (Swift's runtime allocates through malloc/posix_memalign), and each
/// forwards to glibc's allocator (`__libc_malloc` ...), so memory behaves as usual.
///
/// Each call is attributed by its caller's address: calls made from inside a library named with
/// `allocation_counting_attribute_library` (OpenBLAS, whose small-matrix kernels allocate a
/// packing buffer per call on some cores) are counted apart from everyone else's, so a test can
/// state exactly what it owns.
typedef struct {
    /// malloc, calloc, realloc and the aligned allocators, called from anywhere but the library.
    long allocations;
    /// free, and realloc to size 0, called from anywhere but the library.
    long frees;
    /// The same two, called from inside the library.
    long libraryAllocations;
    long libraryFrees;
} AllocationCounts;

/// Finds the loaded library whose file name contains `name_part` (e.g. "libopenblas") and
/// attributes the heap calls made from its code apart from then on. Returns the number of its
/// loaded segments found (0: no such library is loaded, nothing is attributed apart).
int allocation_counting_attribute_library(const char *name_part);

/// Resets the calling thread's counts and starts counting its calls.
void allocation_counting_begin(void);

/// Stops counting and returns the calling thread's counts since `allocation_counting_begin`.
AllocationCounts allocation_counting_end(void);

#endif
