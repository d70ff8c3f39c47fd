// N-API glue: argument unpacking, unit-free calls into sockopt_*.cc, and
// errors with code/syscall/option. Validation of user input happens in
// TypeScript; the checks here only keep the addon memory-safe.
#include <napi.h>
#include <uv.h>

#include "sockopt.h"

namespace {

// Mirrors Node's own uvException: code from uv_err_name, message from
// uv_strerror, plus the syscall and the socket option that failed.
Napi::Error UvError(Napi::Env env, int err, const char* syscall, const char* option) {
  std::string message = std::string(uv_strerror(err)) + ", " + syscall + " " + option;
  Napi::Error error = Napi::Error::New(env, message);
  Napi::Object obj = error.Value();
  obj.Set("code", Napi::String::New(env, uv_err_name(err)));
  obj.Set("errno", Napi::Number::New(env, err));
  obj.Set("syscall", Napi::String::New(env, syscall));
  obj.Set("option", Napi::String::New(env, option));
  return error;
}

int32_t IntArg(const Napi::CallbackInfo& info, size_t index, const char* what) {
  if (info.Length() <= index || !info[index].IsNumber()) {
    throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a number");
  }
  return info[index].As<Napi::Number>().Int32Value();
}

Napi::Value Capabilities(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  sg_capabilities caps;
  sg_get_capabilities(&caps);
  Napi::Object out = Napi::Object::New(env);
  out.Set("keepAlive", caps.keepalive);
  out.Set("keepAliveIdle", caps.keepalive_idle);
  out.Set("keepAliveInterval", caps.keepalive_interval);
  out.Set("keepAliveCount", caps.keepalive_count);
  out.Set("userTimeout", caps.user_timeout);
  out.Set("tcpInfo", caps.tcp_info);
  out.Set("userTimeoutOption", caps.user_timeout_option);
  out.Set("userTimeoutGranularity", caps.user_timeout_granularity_ms);
  return out;
}

// setTimeouts(fd, keepAlive, idleSeconds, intervalSeconds, count, userTimeoutMs)
// A negative value leaves that option untouched.
Napi::Value SetTimeouts(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = IntArg(info, 0, "fd");
  int keepalive = IntArg(info, 1, "keepAlive");
  int idle = IntArg(info, 2, "keepAliveIdle");
  int interval = IntArg(info, 3, "keepAliveInterval");
  int count = IntArg(info, 4, "keepAliveCount");
  int64_t user_timeout = info.Length() > 5 && info[5].IsNumber()
                             ? info[5].As<Napi::Number>().Int64Value()
                             : -1;

  int err;
  if (keepalive >= 0 && (err = sg_set_keepalive(fd, keepalive != 0)) != 0) {
    throw UvError(env, err, "setsockopt", "SO_KEEPALIVE");
  }
  if (idle >= 0 && (err = sg_set_keepalive_idle(fd, idle)) != 0) {
    throw UvError(env, err, "setsockopt", "TCP_KEEPIDLE");
  }
  if (interval >= 0 && (err = sg_set_keepalive_interval(fd, interval)) != 0) {
    throw UvError(env, err, "setsockopt", "TCP_KEEPINTVL");
  }
  if (count >= 0 && (err = sg_set_keepalive_count(fd, count)) != 0) {
    throw UvError(env, err, "setsockopt", "TCP_KEEPCNT");
  }
  if (user_timeout >= 0) {
    if (user_timeout > 0x7fffffff) throw UvError(env, UV_EINVAL, "setsockopt", "TCP_USER_TIMEOUT");
    if ((err = sg_set_user_timeout(fd, static_cast<uint32_t>(user_timeout))) != 0) {
      sg_capabilities caps;
      sg_get_capabilities(&caps);
      throw UvError(env, err, "setsockopt",
                    caps.user_timeout ? caps.user_timeout_option : "TCP_USER_TIMEOUT");
    }
  }
  return env.Undefined();
}

Napi::Value GetTimeouts(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = IntArg(info, 0, "fd");
  sg_timeouts t;
  const char* failed_option = "SO_KEEPALIVE";
  int err = sg_get_timeouts(fd, &t, &failed_option);
  if (err != 0) throw UvError(env, err, "getsockopt", failed_option);
  Napi::Object out = Napi::Object::New(env);
  out.Set("keepAlive", t.keepalive != 0);
  out.Set("keepAliveIdle", Napi::Number::New(env, static_cast<double>(t.keepalive_idle_ms)));
  out.Set("keepAliveInterval", Napi::Number::New(env, static_cast<double>(t.keepalive_interval_ms)));
  out.Set("keepAliveCount", t.keepalive_count);
  out.Set("userTimeout", Napi::Number::New(env, static_cast<double>(t.user_timeout_ms)));
  return out;
}

Napi::Value TcpInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = IntArg(info, 0, "fd");
  sg_tcp_info t;
  int err = sg_get_tcp_info(fd, &t);
  if (err != 0) throw UvError(env, err, "getsockopt", "TCP_INFO");
  Napi::Object out = Napi::Object::New(env);
  out.Set("state", t.state);
  out.Set("caState", t.ca_state);
  out.Set("retransmits", t.retransmits);
  out.Set("probes", t.probes);
  out.Set("backoff", t.backoff);
  out.Set("rto", t.rto_us);
  out.Set("rtt", t.rtt_us);
  out.Set("rttVar", t.rttvar_us);
  out.Set("sndCwnd", t.snd_cwnd);
  out.Set("unacked", t.unacked);
  out.Set("lost", t.lost);
  out.Set("totalRetrans", t.total_retrans);
  out.Set("lastDataSent", t.last_data_sent_ms);
  out.Set("lastDataRecv", t.last_data_recv_ms);
  out.Set("lastAckRecv", t.last_ack_recv_ms);
  out.Set("sndMss", t.snd_mss);
  // Absent (not 0) where the kernel or the build has no such counter.
  // Byte counters are 64-bit; a double holds them exactly up to 2^53 (8 PiB).
  if (t.has_bytes_acked) {
    out.Set("bytesAcked", Napi::Number::New(env, static_cast<double>(t.bytes_acked)));
    out.Set("bytesReceived", Napi::Number::New(env, static_cast<double>(t.bytes_received)));
  }
  if (t.has_notsent_bytes) out.Set("notSentBytes", t.notsent_bytes);
  if (t.has_bytes_sent) {
    out.Set("bytesSent", Napi::Number::New(env, static_cast<double>(t.bytes_sent)));
    out.Set("bytesRetrans", Napi::Number::New(env, static_cast<double>(t.bytes_retrans)));
  }
  if (t.has_snd_wnd) out.Set("sndWnd", t.snd_wnd);
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("capabilities", Napi::Function::New(env, Capabilities, "capabilities"));
  exports.Set("setTimeouts", Napi::Function::New(env, SetTimeouts, "setTimeouts"));
  exports.Set("getTimeouts", Napi::Function::New(env, GetTimeouts, "getTimeouts"));
  exports.Set("tcpInfo", Napi::Function::New(env, TcpInfo, "tcpInfo"));
  return exports;
}

}  // namespace

NODE_API_MODULE(stallguard, Init)
