// Linux, macOS and FreeBSD. Each option is feature-detected with the system
// headers; an option this platform lacks reports UV_ENOTSUP instead of being
// guessed by number.
#include "sockopt.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <uv.h>

#if defined(TCP_KEEPIDLE)
#define SG_KEEPIDLE TCP_KEEPIDLE
#elif defined(TCP_KEEPALIVE) && defined(__APPLE__)
// macOS names the idle time TCP_KEEPALIVE (seconds).
#define SG_KEEPIDLE TCP_KEEPALIVE
#endif

#if defined(TCP_USER_TIMEOUT)
#define SG_USER_TIMEOUT TCP_USER_TIMEOUT
#define SG_USER_TIMEOUT_NAME "TCP_USER_TIMEOUT"
#define SG_USER_TIMEOUT_UNIT_MS 1
#elif defined(TCP_RXT_CONNDROPTIME)
// macOS: seconds, not milliseconds.
#define SG_USER_TIMEOUT TCP_RXT_CONNDROPTIME
#define SG_USER_TIMEOUT_NAME "TCP_RXT_CONNDROPTIME"
#define SG_USER_TIMEOUT_UNIT_MS 1000
#elif defined(TCP_MAXUNACKTIME)
// FreeBSD 14+: seconds.
#define SG_USER_TIMEOUT TCP_MAXUNACKTIME
#define SG_USER_TIMEOUT_NAME "TCP_MAXUNACKTIME"
#define SG_USER_TIMEOUT_UNIT_MS 1000
#endif

namespace {

int set_int(int fd, int level, int name, int value) {
  if (setsockopt(fd, level, name, &value, sizeof(value)) != 0) return -errno;
  return 0;
}

int get_int(int fd, int level, int name, int* value) {
  socklen_t len = sizeof(*value);
  if (getsockopt(fd, level, name, value, &len) != 0) return -errno;
  return 0;
}

}  // namespace

void sg_get_capabilities(sg_capabilities* out) {
  memset(out, 0, sizeof(*out));
  out->keepalive = true;
#ifdef SG_KEEPIDLE
  out->keepalive_idle = true;
#endif
#ifdef TCP_KEEPINTVL
  out->keepalive_interval = true;
#endif
#ifdef TCP_KEEPCNT
  out->keepalive_count = true;
#endif
#ifdef SG_USER_TIMEOUT
  out->user_timeout = true;
  out->user_timeout_option = SG_USER_TIMEOUT_NAME;
  out->user_timeout_granularity_ms = SG_USER_TIMEOUT_UNIT_MS;
#else
  out->user_timeout_option = "";
  out->user_timeout_granularity_ms = 0;
#endif
#if defined(__linux__) && defined(TCP_INFO)
  out->tcp_info = true;
#endif
}

int sg_set_keepalive(int fd, bool enable) {
  return set_int(fd, SOL_SOCKET, SO_KEEPALIVE, enable ? 1 : 0);
}

int sg_set_keepalive_idle(int fd, int seconds) {
#ifdef SG_KEEPIDLE
  return set_int(fd, IPPROTO_TCP, SG_KEEPIDLE, seconds);
#else
  (void)fd; (void)seconds;
  return UV_ENOTSUP;
#endif
}

int sg_set_keepalive_interval(int fd, int seconds) {
#ifdef TCP_KEEPINTVL
  return set_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, seconds);
#else
  (void)fd; (void)seconds;
  return UV_ENOTSUP;
#endif
}

int sg_set_keepalive_count(int fd, int count) {
#ifdef TCP_KEEPCNT
  return set_int(fd, IPPROTO_TCP, TCP_KEEPCNT, count);
#else
  (void)fd; (void)count;
  return UV_ENOTSUP;
#endif
}

int sg_set_user_timeout(int fd, uint32_t milliseconds) {
#ifdef SG_USER_TIMEOUT
  // Round up so that a non-zero request never becomes 0 ("system default").
  uint64_t units = (static_cast<uint64_t>(milliseconds) + SG_USER_TIMEOUT_UNIT_MS - 1) /
                   SG_USER_TIMEOUT_UNIT_MS;
  if (units > 0x7fffffff) return UV_EINVAL;
  return set_int(fd, IPPROTO_TCP, SG_USER_TIMEOUT, static_cast<int>(units));
#else
  (void)fd; (void)milliseconds;
  return UV_ENOTSUP;
#endif
}

int sg_get_timeouts(int fd, sg_timeouts* out, const char** failed_option) {
  int value = 0;
  *failed_option = "SO_KEEPALIVE";
  int err = get_int(fd, SOL_SOCKET, SO_KEEPALIVE, &value);
  if (err != 0) return err;
  out->keepalive = value != 0 ? 1 : 0;

  out->keepalive_idle_ms = -1;
#ifdef SG_KEEPIDLE
  *failed_option = "TCP_KEEPIDLE";
  if ((err = get_int(fd, IPPROTO_TCP, SG_KEEPIDLE, &value)) != 0) return err;
  out->keepalive_idle_ms = static_cast<int64_t>(value) * 1000;
#endif
  out->keepalive_interval_ms = -1;
#ifdef TCP_KEEPINTVL
  *failed_option = "TCP_KEEPINTVL";
  if ((err = get_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, &value)) != 0) return err;
  out->keepalive_interval_ms = static_cast<int64_t>(value) * 1000;
#endif
  out->keepalive_count = -1;
#ifdef TCP_KEEPCNT
  *failed_option = "TCP_KEEPCNT";
  if ((err = get_int(fd, IPPROTO_TCP, TCP_KEEPCNT, &value)) != 0) return err;
  out->keepalive_count = value;
#endif
  out->user_timeout_ms = -1;
#ifdef SG_USER_TIMEOUT
  *failed_option = SG_USER_TIMEOUT_NAME;
  if ((err = get_int(fd, IPPROTO_TCP, SG_USER_TIMEOUT, &value)) != 0) return err;
  out->user_timeout_ms = static_cast<int64_t>(value) * SG_USER_TIMEOUT_UNIT_MS;
#endif
  return 0;
}

#if !defined(__linux__)
// TCP_INFO is Linux's (tcp_info_linux.cc); the BSDs' struct differs.
int sg_get_tcp_info(int fd, sg_tcp_info* out) {
  (void)fd; (void)out;
  return UV_ENOTSUP;
}
#endif
