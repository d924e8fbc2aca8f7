// Source and sink in one process, like the loadgen: writes N MiB to one socket, reads them from the other (poll loop).
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
static int conn(int port) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0}; a.sin_family = AF_INET; a.sin_port = htons(port); a.sin_addr.s_addr = htonl(0x7f000001);
  if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) { perror("connect"); exit(1); }
  fcntl(s, F_SETFL, O_NONBLOCK); return s;
}
int main(int argc, char **argv) {
  int port = atoi(argv[1]); long n = atol(argv[2]); long total = n << 20;
  int src = conn(port); usleep(50000); int dst = conn(port); usleep(100000);
  static char wbuf[1 << 20], rbuf[1 << 20]; memset(wbuf, 7, sizeof wbuf);
  long sent = 0, got = 0; struct timespec t0, t1; clock_gettime(CLOCK_MONOTONIC, &t0);
  while (got < total) {
    struct pollfd p[2] = {{src, sent < total ? POLLOUT : 0, 0}, {dst, POLLIN, 0}};
    poll(p, 2, 1000);
    if (p[0].revents & POLLOUT) { long off = sent % sizeof wbuf; ssize_t k = write(src, wbuf + off, sizeof wbuf - off); if (k > 0) sent += k; }
    if (p[1].revents & POLLIN) { ssize_t k; while ((k = read(dst, rbuf, sizeof rbuf)) > 0) got += k; }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("{\"MBps\":%.0f,\"s\":%.2f}\n", total / s / 1e6, s); return 0;
}
