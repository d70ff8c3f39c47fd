// Platform interface of the native layer. Every function returns 0 on
// success or a negative uv-style errno (UV_ENOTSUP where the platform has no
// such option), so the N-API glue has one way to turn failures into errors.
#ifndef STALLGUARD_SOCKOPT_H
#define STALLGUARD_SOCKOPT_H

#include <stdint.h>

// Which options this build can reach; fixed at compile time by the headers.
struct sg_capabilities {
  bool keepalive;          // SO_KEEPALIVE
  bool keepalive_idle;     // TCP_KEEPIDLE (macOS: TCP_KEEPALIVE)
  bool keepalive_interval; // TCP_KEEPINTVL
  bool keepalive_count;    // TCP_KEEPCNT
  bool user_timeout;       // TCP_USER_TIMEOUT (macOS: TCP_RXT_CONNDROPTIME, FreeBSD: TCP_MAXUNACKTIME)
  bool tcp_info;           // TCP_INFO with the fields of sg_tcp_info
  const char* user_timeout_option; // kernel name of the option behind user_timeout
  int user_timeout_granularity_ms; // 1 on Linux; 1000 where the kernel counts seconds
};

// Values as the kernel holds them. Durations are converted to milliseconds
// here so that JavaScript never needs to know the platform's units.
struct sg_timeouts {
  int32_t keepalive;            // 0 or 1
  int64_t keepalive_idle_ms;    // -1 when unsupported
  int64_t keepalive_interval_ms;
  int32_t keepalive_count;
  int64_t user_timeout_ms;      // 0 = system default
};

struct sg_tcp_info {
  uint32_t state;
  uint32_t ca_state;
  uint32_t retransmits;   // retransmissions of the current head segment
  uint32_t probes;        // unanswered zero-window or keepalive probes
  uint32_t backoff;
  uint32_t rto_us;
  uint32_t rtt_us;
  uint32_t rttvar_us;
  uint32_t snd_cwnd;
  uint32_t unacked;       // segments sent and not yet acknowledged
  uint32_t lost;
  uint32_t total_retrans;
  uint32_t last_data_sent_ms;
  uint32_t last_data_recv_ms;
  uint32_t last_ack_recv_ms;
  uint32_t snd_mss;       // bytes per segment: turns `unacked` into an estimate in bytes

  // Counters newer kernels add at the end of struct tcp_info. Each group is
  // present only when both the headers this was built with and the running
  // kernel have it (an older kernel returns a shorter struct).
  bool has_bytes_acked;     // Linux >= 4.1
  uint64_t bytes_acked;     // bytes the peer acknowledged
  uint64_t bytes_received;  // bytes received from the peer
  bool has_notsent_bytes;   // Linux >= 4.6
  uint32_t notsent_bytes;   // bytes queued and not yet sent (zero window, congestion)
  bool has_bytes_sent;      // Linux >= 4.19
  uint64_t bytes_sent;      // data bytes sent, retransmissions included
  uint64_t bytes_retrans;   // data bytes retransmitted
  bool has_snd_wnd;         // Linux >= 5.4
  uint32_t snd_wnd;         // the peer's advertised receive window, bytes (0: it stopped reading)
};

void sg_get_capabilities(sg_capabilities* out);

int sg_set_keepalive(int fd, bool enable);
// Seconds: the caller has already rounded milliseconds up.
int sg_set_keepalive_idle(int fd, int seconds);
int sg_set_keepalive_interval(int fd, int seconds);
int sg_set_keepalive_count(int fd, int count);
// Milliseconds; platforms that count seconds round up.
int sg_set_user_timeout(int fd, uint32_t milliseconds);

// On failure *failed_option names the option whose getsockopt failed.
int sg_get_timeouts(int fd, sg_timeouts* out, const char** failed_option);
int sg_get_tcp_info(int fd, sg_tcp_info* out);

#endif
