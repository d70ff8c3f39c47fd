// Platforms where Node gives us no socket descriptor (Windows) or where the
// options do not exist: every call reports UV_ENOTSUP and the capabilities say
// so, so the JavaScript layer degrades to what Node can do by itself.
#include "sockopt.h"

#include <string.h>
#include <uv.h>

void sg_get_capabilities(sg_capabilities* out) {
  memset(out, 0, sizeof(*out));
  out->user_timeout_option = "";
}

int sg_set_keepalive(int, bool) { return UV_ENOTSUP; }
int sg_set_keepalive_idle(int, int) { return UV_ENOTSUP; }
int sg_set_keepalive_interval(int, int) { return UV_ENOTSUP; }
int sg_set_keepalive_count(int, int) { return UV_ENOTSUP; }
int sg_set_user_timeout(int, uint32_t) { return UV_ENOTSUP; }
int sg_get_timeouts(int, sg_timeouts*, const char** failed_option) {
  *failed_option = "SO_KEEPALIVE";
  return UV_ENOTSUP;
}
int sg_get_tcp_info(int, sg_tcp_info*) { return UV_ENOTSUP; }
