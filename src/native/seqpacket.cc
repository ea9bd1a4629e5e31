// AF_UNIX SOCK_SEQPACKET sockets for talking to CRIU's RPC server (Node has
// none). Sends are synchronous and never block; receiving is driven by a
// uv_poll_t on the environment's event loop (no thread pool). Also the one
// AF_UNIX query Node lacks for the agent's own socket: the peer's
// credentials (SO_PEERCRED), which the authorization uses as an identity.
#include <napi.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>

void InitCuda(Napi::Env env, Napi::Object exports);  // cuda.cc

namespace {

// The kernel refuses a datagram larger than the sender's SO_SNDBUF (default
// ~208 KiB); raise it so messages of a few MiB fit (the kernel doubles this).
constexpr int kSendBufferBytes = 2 * 1024 * 1024;

// An Error like Node's system errors: "ENOENT: no such file or directory,
// connect '/x'" with code, errno (negative, as in Node), syscall and path.
Napi::Error SysError(Napi::Env env, int err, const char* syscall,
                     const std::string& path = std::string()) {
  char name[64];
  char text[256];
  uv_err_name_r(-err, name, sizeof name);
  uv_strerror_r(-err, text, sizeof text);
  std::string message = std::string(name) + ": " + text + ", " + syscall;
  if (!path.empty()) message += " '" + path + "'";
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, name));
  error.Set("errno", Napi::Number::New(env, -err));
  error.Set("syscall", Napi::String::New(env, syscall));
  if (!path.empty()) error.Set("path", Napi::String::New(env, path));
  return error;
}

int FdArg(const Napi::CallbackInfo& info, size_t index) {
  if (info.Length() > index && info[index].IsNumber()) {
    double value = info[index].As<Napi::Number>().DoubleValue();
    if (value >= 0 && value <= INT_MAX && value == static_cast<int>(value)) {
      return static_cast<int>(value);
    }
  }
  throw Napi::TypeError::New(info.Env(), "fd must be a non-negative integer");
}

void GrowSendBuffer(int fd) {
  int size = kSendBufferBytes;
  // SO_SNDBUFFORCE ignores net.core.wmem_max but needs CAP_NET_ADMIN; else
  // best effort with SO_SNDBUF (capped at wmem_max).
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0) {
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  }
}

// socketpair() -> [parentFd, childFd]. Parent end: non-blocking. Child end:
// blocking (CRIU fails with EAGAIN on a non-blocking one). Both close-on-exec:
// child_process.spawn's stdio mapping dup2()s the child end to fd 3 of
// `criu swrk 3`, which clears the flag on the copy; an inheritable original
// would leak into CRIU (and anything else spawned meanwhile) as a 2nd fd.
Napi::Value SocketPair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    throw SysError(env, errno, "socketpair");
  }
  int flags = fcntl(sv[0], F_GETFL);
  if (flags < 0 || fcntl(sv[0], F_SETFL, flags | O_NONBLOCK) != 0) {
    int err = errno;
    close(sv[0]);
    close(sv[1]);
    throw SysError(env, err, "fcntl");
  }
  GrowSendBuffer(sv[0]);
  GrowSendBuffer(sv[1]);
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, Napi::Number::New(env, sv[0]));
  result.Set(1u, Napi::Number::New(env, sv[1]));
  return result;
}

// connect(path) -> fd (non-blocking, close-on-exec).
Napi::Value Connect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    throw Napi::TypeError::New(env, "path must be a string");
  }
  std::string path = info[0].As<Napi::String>();
  sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (path.empty()) throw SysError(env, ENOENT, "connect", path);
  if (path.size() >= sizeof addr.sun_path) throw SysError(env, ENAMETOOLONG, "connect", path);
  memcpy(addr.sun_path, path.data(), path.size());
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw SysError(env, errno, "socket");
  GrowSendBuffer(fd);
  // For AF_UNIX this completes at once, or fails (EAGAIN: backlog full).
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    close(fd);
    throw SysError(env, err, "connect", path);
  }
  return Napi::Number::New(env, fd);
}

// send(fd, Uint8Array): one message, never blocks; EAGAIN is an error.
Napi::Value Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  if (info.Length() < 2 || !info[1].IsTypedArray() ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw Napi::TypeError::New(env, "data must be a Uint8Array");
  }
  Napi::Uint8Array data = info[1].As<Napi::Uint8Array>();
  ssize_t n;
  do {
    n = send(fd, data.Data(), data.ByteLength(), MSG_NOSIGNAL | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0) throw SysError(env, errno, "send");
  if (static_cast<size_t>(n) != data.ByteLength()) throw SysError(env, EMSGSIZE, "send");
  return env.Undefined();
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  int fd = FdArg(info, 0);
  if (close(fd) != 0 && errno != EINTR) throw SysError(info.Env(), errno, "close");
  return info.Env().Undefined();
}

class Receiver;

// Separate from Receiver: libuv owns it until the uv_close callback runs.
struct PollState {
  uv_poll_t handle;
  Receiver* owner = nullptr;
  napi_async_cleanup_hook_handle hook = nullptr;
};

// The handle returned by startReceiving(fd, callback). Strongly referenced
// while polling; stop() is idempotent.
class Receiver : public Napi::ObjectWrap<Receiver> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "SeqpacketReceiver",
                       {InstanceMethod<&Receiver::Stop>("stop")});
  }

  explicit Receiver(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Receiver>(info) {}

  ~Receiver() override {
    referenced_ = false;  // being finalized: must not Unref()
    StopPolling();
    emitting_ = false;
    ReleaseAsync();
  }

  void Start(int fd, Napi::Function callback) {
    Napi::Env env = Env();
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
      throw Napi::Error::New(env, "no libuv event loop");
    }
    if (poll_ != nullptr) throw Napi::Error::New(env, "already receiving");
    fd_ = fd;
    callback_ = Napi::Persistent(callback);
    if (napi_async_init(env, Value(), Napi::String::New(env, "SeqpacketReceiver"), &async_) != napi_ok) {
      throw Napi::Error::New(env, "napi_async_init failed");
    }
    auto* state = new PollState();
    int rc = uv_poll_init(loop, &state->handle, fd);
    if (rc != 0) {
      delete state;
      throw SysError(env, -rc, "uv_poll_init");
    }
    state->handle.data = state;
    state->owner = this;
    poll_ = state;
    rc = uv_poll_start(&state->handle, UV_READABLE | UV_DISCONNECT, OnPoll);
    if (rc != 0) {
      StopPolling();
      ReleaseAsync();
      throw SysError(env, -rc, "uv_poll_start");
    }
    // Worker-thread teardown: the handle must be closed before the loop is.
    napi_add_async_cleanup_hook(env, OnEnvCleanup, state, &state->hook);
    Ref();
    referenced_ = true;
  }

 private:
  Napi::Value Stop(const Napi::CallbackInfo& info) {
    StopPolling();
    ReleaseAsync();
    return info.Env().Undefined();
  }

  // Ends the async resource once no callback can follow (async_hooks 'destroy';
  // otherwise it would look alive until GC). Deferred while a callback runs.
  void ReleaseAsync() {
    if (async_ == nullptr || emitting_) return;
    napi_async_destroy(Env(), async_);
    async_ = nullptr;
  }

  void StopPolling() {
    PollState* state = poll_;
    if (state == nullptr) return;
    poll_ = nullptr;
    state->owner = nullptr;
    if (state->hook != nullptr) {
      napi_remove_async_cleanup_hook(state->hook);
      state->hook = nullptr;
    }
    uv_poll_stop(&state->handle);
    uv_close(reinterpret_cast<uv_handle_t*>(&state->handle),
             [](uv_handle_t* h) { delete static_cast<PollState*>(h->data); });
    if (referenced_) {
      referenced_ = false;
      Unref();
    }
  }

  static void OnPoll(uv_poll_t* handle, int status, int /*events*/) {
    auto* state = static_cast<PollState*>(handle->data);
    Receiver* self = state->owner;
    if (self == nullptr) return;
    Napi::HandleScope scope(self->Env());
    Napi::Object keep = self->Value();  // keep the wrapper alive during callbacks
    (void)keep;
    self->OnReadable(status);
    if (self->poll_ == nullptr) self->ReleaseAsync();
  }

  static void OnEnvCleanup(napi_async_cleanup_hook_handle hook, void* arg) {
    auto* state = static_cast<PollState*>(arg);
    state->hook = hook;
    if (state->owner != nullptr) state->owner->poll_ = nullptr;
    state->owner = nullptr;
    uv_poll_stop(&state->handle);
    uv_close(reinterpret_cast<uv_handle_t*>(&state->handle), [](uv_handle_t* h) {
      auto* s = static_cast<PollState*>(h->data);
      napi_remove_async_cleanup_hook(s->hook);
      delete s;
    });
  }

  // Reads every queued message; the callback may call stop() at any time.
  void OnReadable(int status) {
    Napi::Env env = Env();
    if (status < 0) return Fail(-status, "poll");
    while (poll_ != nullptr) {
      Napi::HandleScope scope(env);
      ssize_t size = recv(fd_, nullptr, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
      if (size < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        return Fail(errno, "recv");
      }
      if (size == 0) {  // EOF (an empty message would look the same)
        StopPolling();
        Emit({env.Null(), env.Null()});
        return;
      }
      Napi::Buffer<uint8_t> buffer = Napi::Buffer<uint8_t>::New(env, size);
      ssize_t n;
      do {
        n = recv(fd_, buffer.Data(), size, MSG_DONTWAIT);
      } while (n < 0 && errno == EINTR);
      if (n < 0) return Fail(errno, "recv");
      if (n != size) return Fail(EMSGSIZE, "recv");
      Emit({env.Null(), buffer});
    }
  }

  void Fail(int err, const char* syscall) {
    Napi::Error error = SysError(Env(), err, syscall);
    StopPolling();
    Emit({error.Value()});
  }

  void Emit(std::initializer_list<napi_value> args) {
    emitting_ = true;
    try {
      // MakeCallback with an async context drains nextTicks and microtasks.
      callback_.MakeCallback(Value(), args, async_);
    } catch (const Napi::Error& e) {
      napi_fatal_exception(Env(), e.Value());  // -> 'uncaughtException'
    }
    emitting_ = false;
  }

  napi_async_context async_ = nullptr;
  bool emitting_ = false;
  Napi::FunctionReference callback_;
  PollState* poll_ = nullptr;
  int fd_ = -1;
  bool referenced_ = false;
};

// peerCredentials(fd) -> { pid, uid, gid } of the process that connected (or
// created the socket pair), as the kernel recorded them at connect time.
Napi::Value PeerCredentials(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    throw SysError(env, errno, "getsockopt");
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("pid", Napi::Number::New(env, cred.pid));
  result.Set("uid", Napi::Number::New(env, cred.uid));
  result.Set("gid", Napi::Number::New(env, cred.gid));
  return result;
}

struct AddonData {
  Napi::FunctionReference receiver;
};

// startReceiving(fd, (err, buffer | null) => void) -> { stop() }
Napi::Value StartReceiving(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  if (info.Length() < 2 || !info[1].IsFunction()) {
    throw Napi::TypeError::New(env, "callback must be a function");
  }
  Napi::Object handle = env.GetInstanceData<AddonData>()->receiver.New({});
  Receiver::Unwrap(handle)->Start(fd, info[1].As<Napi::Function>());
  return handle;
}

// tryLockExclusive(fd) -> true when this process now holds an exclusive
// flock(2) on fd, false when another open file description holds one. The
// lock lives as long as the fd stays open, and ends with the process however
// it ends: the state directory's lock of a dead agent is never stale.
Napi::Value TryLockExclusive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  int rc;
  do {
    rc = flock(fd, LOCK_EX | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc == 0) return Napi::Boolean::New(env, true);
  if (errno == EWOULDBLOCK) return Napi::Boolean::New(env, false);
  throw SysError(env, errno, "flock");
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  data->receiver = Napi::Persistent(Receiver::Define(env));
  env.SetInstanceData(data);
  exports.Set("socketpair", Napi::Function::New(env, SocketPair, "socketpair"));
  exports.Set("connect", Napi::Function::New(env, Connect, "connect"));
  exports.Set("send", Napi::Function::New(env, Send, "send"));
  exports.Set("startReceiving", Napi::Function::New(env, StartReceiving, "startReceiving"));
  exports.Set("close", Napi::Function::New(env, Close, "close"));
  exports.Set("peerCredentials", Napi::Function::New(env, PeerCredentials, "peerCredentials"));
  exports.Set("tryLockExclusive", Napi::Function::New(env, TryLockExclusive, "tryLockExclusive"));
  InitCuda(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(seqpacket, Init)
