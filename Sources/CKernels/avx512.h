// Shared by the kernel files (not part of the module's interface).
#ifndef DDP_AVX512_H
#define DDP_AVX512_H

// The kernels exist for x86-64; elsewhere (an ARM laptop) ddp_avx512_available() is 0, the
// Swift side never calls them, and each file compiles stubs that trap instead.
#if defined(__x86_64__)
#define DDP_X86 1
#include <immintrin.h>

// Compiles one function for AVX-512 (which implies FMA); callers check ddp_avx512_available().
#define AVX512 __attribute__((target("avx512f,fma")))

// The first n lanes of a 16-lane vector (none for n <= 0, all for n >= 16).
static inline __mmask16 lanes(long n) {
    return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
}
#else
#define DDP_X86 0
#endif

#endif
