// The replacement allocator of AllocationCounter.h. glibc documents replacing malloc this way
// ("Replacing malloc" in its manual): the program defines the functions, every library binds to
// them, and these forward to glibc's own implementation, which glibc exports as __libc_*.
#define _GNU_SOURCE
#include "AllocationCounter.h"

#include <errno.h>
#include <link.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void __libc_free(void *pointer);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void *__libc_valloc(size_t size);
extern void *__libc_pvalloc(size_t size);

// Per thread: other threads of the test process (a Dispatch worker exiting frees its caches)
// must not count. Initial-exec TLS: reading it never calls into the allocator.
static _Thread_local bool counting __attribute__((tls_model("initial-exec")));
static _Thread_local AllocationCounts counts __attribute__((tls_model("initial-exec")));

// The executable segments of the library whose calls are counted apart: set before counting
// starts, only read while it runs.
enum { MAX_SEGMENTS = 16 };
static struct { uintptr_t start, end; } segments[MAX_SEGMENTS];
static int segment_count;

struct search { const char *name_part; };

static int collect_segments(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    const struct search *search = data;
    if (info->dlpi_name == NULL || strstr(info->dlpi_name, search->name_part) == NULL) return 0;
    for (int i = 0; i < info->dlpi_phnum && segment_count < MAX_SEGMENTS; ++i) {
        const ElfW(Phdr) *header = &info->dlpi_phdr[i];
        if (header->p_type != PT_LOAD || !(header->p_flags & PF_X)) continue;
        segments[segment_count].start = info->dlpi_addr + header->p_vaddr;
        segments[segment_count].end = segments[segment_count].start + header->p_memsz;
        ++segment_count;
    }
    return 0;
}

int allocation_counting_attribute_library(const char *name_part) {
    segment_count = 0;
    struct search search = {name_part};
    dl_iterate_phdr(collect_segments, &search);
    return segment_count;
}

static bool in_library(const void *caller) {
    const uintptr_t address = (uintptr_t)caller;
    for (int i = 0; i < segment_count; ++i) {
        if (address >= segments[i].start && address < segments[i].end) return true;
    }
    return false;
}

// `caller` is the return address of the allocator function: an address in the code that called it.
static inline void count_allocation(const void *caller) {
    if (!counting) return;
    if (in_library(caller)) ++counts.libraryAllocations; else ++counts.allocations;
}

static inline void count_free(const void *caller) {
    if (!counting) return;
    if (in_library(caller)) ++counts.libraryFrees; else ++counts.frees;
}

void allocation_counting_begin(void) {
    counts = (AllocationCounts){0, 0, 0, 0};
    counting = true;
}

AllocationCounts allocation_counting_end(void) {
    counting = false;
    return counts;
}

void *malloc(size_t size) {
    count_allocation(__builtin_return_address(0));
    return __libc_malloc(size);
}

void *calloc(size_t count_, size_t size) {
    count_allocation(__builtin_return_address(0));
    return __libc_calloc(count_, size);
}

void *realloc(void *pointer, size_t size) {
    if (pointer != NULL && size == 0) count_free(__builtin_return_address(0));
    else count_allocation(__builtin_return_address(0));
    return __libc_realloc(pointer, size);
}

void free(void *pointer) {
    if (pointer != NULL) count_free(__builtin_return_address(0));
    __libc_free(pointer);
}

void *memalign(size_t alignment, size_t size) {
    count_allocation(__builtin_return_address(0));
    return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size) {
    count_allocation(__builtin_return_address(0));
    return __libc_memalign(alignment, size);
}

int posix_memalign(void **result, size_t alignment, size_t size) {
    if (alignment % sizeof(void *) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
    count_allocation(__builtin_return_address(0));
    void *pointer = __libc_memalign(alignment, size);
    if (pointer == NULL) return ENOMEM;
    *result = pointer;
    return 0;
}

void *valloc(size_t size) {
    count_allocation(__builtin_return_address(0));
    return __libc_valloc(size);
}

void *pvalloc(size_t size) {
    count_allocation(__builtin_return_address(0));
    return __libc_pvalloc(size);
}
