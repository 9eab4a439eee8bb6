/* Which algorithm does Open MPI's MPI_Allreduce run? An LD_PRELOAD probe for comparing ddp's
   allreduce with it (docs/CLUSTER.md): coll/tuned decides per communicator size and message
   size, then calls one of the ompi_coll_base_allreduce_intra_* functions of libmpi through the
   dynamic linker, so definitions preloaded here run first, report, and pass the call on.

     gcc -O2 -shared -fPIC -o ompi_allreduce_probe.so scripts/netns/ompi_allreduce_probe.c -ldl
     mpirun -n 4 -x LD_PRELOAD=$PWD/ompi_allreduce_probe.so ddp bench allreduce --json

   World rank 0 prints to stderr, once per algorithm and count:
     ompi_allreduce_probe: ring count 16384
   Release builds of Open MPI do not log the decision themselves (its OPAL_OUTPUT is debug-only).

   The functions take up to 8 integer or pointer arguments (Open MPI 4.1: sbuf, rbuf, int count,
   dtype, op, comm, module, and a segment size for ring_segmented); forwarding 8 word-sized
   arguments passes every register and stack slot on unchanged under the x86-64 and AArch64
   calling conventions, whatever the callee's exact prototype. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

typedef long word;
typedef int (*allreduce_fn)(word, word, word, word, word, word, word, word);

static int is_world_rank0(void) {
    const char *rank = getenv("OMPI_COMM_WORLD_RANK");
    return rank != NULL && atoi(rank) == 0;
}

/* Each probe remembers the counts it reported (a few dozen distinct sizes in a benchmark). */
#define PROBE(symbol, label)                                                                      \
    int symbol(word a, word b, word count, word d, word e, word f, word g, word h) {              \
        static allreduce_fn real;                                                                 \
        static int seen[64], nseen;                                                               \
        if (real == NULL) real = (allreduce_fn)dlsym(RTLD_NEXT, #symbol);                          \
        if (real == NULL) { fprintf(stderr, "ompi_allreduce_probe: %s not found\n", #symbol); abort(); } \
        int n = (int)count, known = 0;                                                            \
        for (int i = 0; i < nseen; i++) known |= seen[i] == n;                                    \
        if (!known && is_world_rank0()) {                                                         \
            if (nseen < 64) seen[nseen++] = n;                                                    \
            fprintf(stderr, "ompi_allreduce_probe: %s count %d\n", label, n);                      \
        }                                                                                         \
        return real(a, b, count, d, e, f, g, h);                                                  \
    }

PROBE(ompi_coll_base_allreduce_intra_basic_linear, "basic_linear")
PROBE(ompi_coll_base_allreduce_intra_nonoverlapping, "nonoverlapping")
PROBE(ompi_coll_base_allreduce_intra_recursivedoubling, "recursive_doubling")
PROBE(ompi_coll_base_allreduce_intra_ring, "ring")
PROBE(ompi_coll_base_allreduce_intra_ring_segmented, "segmented_ring")
PROBE(ompi_coll_base_allreduce_intra_redscat_allgather, "rabenseifner (redscat_allgather)")
