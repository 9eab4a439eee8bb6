/* Where did each rank run, and does MPI_Allreduce add up across the "hosts"?
   Run by scripts/tests/multihost_netns.sh across network namespaces; works on real hosts too.

   Rank 0 prints one JSON line per rank:
     {"rank":R,"host":"ddp-h1","netns":4026532249,"addr":"10.77.0.2","local_rank":0,"local_size":2}
   netns is the inode of /proc/self/ns/net (what `ip netns identify` compares with the files under /run/netns),
   addr the first non-loopback IPv4 address the rank sees. Then one line for the allreduce check:
     {"check":"allreduce","ranks":P,"max_count":N,"bytes_largest":B,"errors":E}
   Rank r contributes x_r[i] = (r + 1) * (i % 13 + 1), so every element of the sum is known exactly:
   P(P+1)/2 * (i % 13 + 1), small integers that float represents exactly in any summation order.
   Counts cover 0, 1, P-1, P+1, odd and large (the large one spans many TCP fragments).
   Exit status 1 when any element on any rank is wrong.

   mpicc -O2 netns_check.c -o netns_check */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <mpi.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { NAME_LEN = 64 };

/* What each rank reports to rank 0; fixed size so one MPI_Gather of bytes carries it. */
typedef struct {
  char host[NAME_LEN];
  char addr[NAME_LEN];
  unsigned long long netns;
  int local_rank, local_size;
} Placement;

static void first_ipv4(char *out, size_t len) {
  snprintf(out, len, "none");
  struct ifaddrs *list;
  if (getifaddrs(&list) != 0) return;
  for (struct ifaddrs *a = list; a; a = a->ifa_next) {
    if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET) continue;
    struct in_addr in = ((struct sockaddr_in *)a->ifa_addr)->sin_addr;
    if ((ntohl(in.s_addr) >> 24) == 127) continue;
    inet_ntop(AF_INET, &in, out, (socklen_t)len);
    break;
  }
  freeifaddrs(list);
}

static int env_int(const char *name) {
  const char *v = getenv(name);
  return v ? atoi(v) : -1;
}

/* Allreduce of `count` floats (in place) with rank-dependent data; returns wrong elements here. */
static long check_allreduce(long count, int rank, int size) {
  float *x = malloc((size_t)(count > 0 ? count : 1) * sizeof(float));
  for (long i = 0; i < count; i++) x[i] = (float)((rank + 1) * (i % 13 + 1));
  MPI_Allreduce(MPI_IN_PLACE, x, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  long wrong = 0;
  const long ranks_sum = (long)size * (size + 1) / 2;
  for (long i = 0; i < count; i++)
    if (x[i] != (float)(ranks_sum * (i % 13 + 1))) wrong++;
  free(x);
  return wrong;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);

  Placement me;
  memset(&me, 0, sizeof me);
  gethostname(me.host, NAME_LEN - 1);
  first_ipv4(me.addr, NAME_LEN);
  struct stat st;
  me.netns = stat("/proc/self/ns/net", &st) == 0 ? (unsigned long long)st.st_ino : 0;
  me.local_rank = env_int("OMPI_COMM_WORLD_LOCAL_RANK");
  me.local_size = env_int("OMPI_COMM_WORLD_LOCAL_SIZE");

  Placement *all = rank == 0 ? malloc((size_t)size * sizeof(Placement)) : NULL;
  MPI_Gather(&me, (int)sizeof me, MPI_BYTE, all, (int)sizeof me, MPI_BYTE, 0, MPI_COMM_WORLD);
  if (rank == 0) {
    for (int r = 0; r < size; r++)
      printf("{\"rank\":%d,\"host\":\"%s\",\"netns\":%llu,\"addr\":\"%s\",\"local_rank\":%d,\"local_size\":%d}\n",
             r, all[r].host, all[r].netns, all[r].addr, all[r].local_rank, all[r].local_size);
    free(all);
  }

  /* 0, 1, P-1, P+1, odd, and 4 MiB + 3 floats: large enough to be split into many TCP fragments. */
  const long largest = (1L << 20) + 3;
  const long counts[] = {0, 1, size - 1, size + 1, 1001, largest};
  long wrong = 0;
  for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) wrong += check_allreduce(counts[c], rank, size);
  long total_wrong = 0;
  MPI_Reduce(&wrong, &total_wrong, 1, MPI_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
  if (rank == 0)
    printf("{\"check\":\"allreduce\",\"ranks\":%d,\"max_count\":%ld,\"bytes_largest\":%ld,\"errors\":%ld}\n",
           size, largest, largest * (long)sizeof(float), total_wrong);
  MPI_Bcast(&total_wrong, 1, MPI_LONG, 0, MPI_COMM_WORLD);
  fflush(stdout);
  MPI_Finalize();
  return total_wrong == 0 ? 0 : 1;
}
