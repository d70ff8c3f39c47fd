// TCP_INFO on Linux, in its own file because it needs the kernel's header:
// glibc's <netinet/tcp.h> (pulled in by uv.h) stops at tcpi_total_retrans,
// and the two headers cannot be combined (both define struct tcp_info).
// Toolchains without kernel headers (some musl cross builds) fall back to
// the libc header and report the basic fields only.
#include "sockopt.h"

#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

#if defined(__has_include)
#if __has_include(<linux/tcp.h>) && __has_include(<linux/version.h>)
#define SG_LINUX_TCP_H 1
#endif
#endif
#ifdef SG_LINUX_TCP_H
#include <linux/tcp.h>
#include <linux/version.h>
// Version of the kernel headers: which fields this build knows about.
#define SG_HEADERS_AT_LEAST(a, b) (LINUX_VERSION_CODE >= KERNEL_VERSION(a, b, 0))
#else
#include <netinet/tcp.h>
#define SG_HEADERS_AT_LEAST(a, b) 0
#endif

// True when the running kernel filled `field`: an older kernel than the
// headers returns a shorter struct.
#define SG_FILLED(len, field) \
  ((len) >= offsetof(struct tcp_info, field) + sizeof(((struct tcp_info*)0)->field))

int sg_get_tcp_info(int fd, sg_tcp_info* out) {
  struct tcp_info info;
  memset(&info, 0, sizeof(info));
  memset(out, 0, sizeof(*out));
  socklen_t len = sizeof(info);
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return -errno;
  out->state = info.tcpi_state;
  out->ca_state = info.tcpi_ca_state;
  out->retransmits = info.tcpi_retransmits;
  out->probes = info.tcpi_probes;
  out->backoff = info.tcpi_backoff;
  out->rto_us = info.tcpi_rto;
  out->rtt_us = info.tcpi_rtt;
  out->rttvar_us = info.tcpi_rttvar;
  out->snd_cwnd = info.tcpi_snd_cwnd;
  out->unacked = info.tcpi_unacked;
  out->lost = info.tcpi_lost;
  out->total_retrans = info.tcpi_total_retrans;
  out->last_data_sent_ms = info.tcpi_last_data_sent;
  out->last_data_recv_ms = info.tcpi_last_data_recv;
  out->last_ack_recv_ms = info.tcpi_last_ack_recv;
  out->snd_mss = info.tcpi_snd_mss;
#if SG_HEADERS_AT_LEAST(4, 1)
  if (SG_FILLED(len, tcpi_bytes_received)) {
    out->has_bytes_acked = true;
    out->bytes_acked = info.tcpi_bytes_acked;
    out->bytes_received = info.tcpi_bytes_received;
  }
#endif
#if SG_HEADERS_AT_LEAST(4, 6)
  if (SG_FILLED(len, tcpi_notsent_bytes)) {
    out->has_notsent_bytes = true;
    out->notsent_bytes = info.tcpi_notsent_bytes;
  }
#endif
#if SG_HEADERS_AT_LEAST(4, 19)
  if (SG_FILLED(len, tcpi_bytes_retrans)) {
    out->has_bytes_sent = true;
    out->bytes_sent = info.tcpi_bytes_sent;
    out->bytes_retrans = info.tcpi_bytes_retrans;
  }
#endif
#if SG_HEADERS_AT_LEAST(5, 4)
  if (SG_FILLED(len, tcpi_snd_wnd)) {
    out->has_snd_wnd = true;
    out->snd_wnd = info.tcpi_snd_wnd;
  }
#endif
  return 0;
}
