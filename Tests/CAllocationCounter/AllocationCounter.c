// The replacement allocator of AllocationCounter.h. glibc documents replacing malloc this way
// ("Replacing malloc" in its manual): the program defines the functions, every library binds to
// them, and these forward to glibc's own implementation, which glibc exports as __libc_*.
#include "AllocationCounter.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

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
static _Thread_local long allocations __attribute__((tls_model("initial-exec"))), frees __attribute__((tls_model("initial-exec")));

static inline void count(long *counter) {
    if (counting) ++*counter;
}

void allocation_counting_begin(void) {
    allocations = 0;
    frees = 0;
    counting = true;
}

AllocationCounts allocation_counting_end(void) {
    counting = false;
    return (AllocationCounts){allocations, frees};
}

void *malloc(size_t size) {
    count(&allocations);
    return __libc_malloc(size);
}

void *calloc(size_t count_, size_t size) {
    count(&allocations);
    return __libc_calloc(count_, size);
}

void *realloc(void *pointer, size_t size) {
    count(pointer != NULL && size == 0 ? &frees : &allocations);
    return __libc_realloc(pointer, size);
}

void free(void *pointer) {
    if (pointer != NULL) count(&frees);
    __libc_free(pointer);
}

void *memalign(size_t alignment, size_t size) {
    count(&allocations);
    return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size) {
    count(&allocations);
    return __libc_memalign(alignment, size);
}

int posix_memalign(void **result, size_t alignment, size_t size) {
    if (alignment % sizeof(void *) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
    count(&allocations);
    void *pointer = __libc_memalign(alignment, size);
    if (pointer == NULL) return ENOMEM;
    *result = pointer;
    return 0;
}

void *valloc(size_t size) {
    count(&allocations);
    return __libc_valloc(size);
}

void *pvalloc(size_t size) {
    count(&allocations);
    return __libc_pvalloc(size);
}
