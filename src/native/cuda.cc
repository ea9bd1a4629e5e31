// NVIDIA's CUDA checkpoint API (driver 550+), loaded at run time with
// dlopen("libcuda.so.1") so that the agent builds and runs on machines
// without a GPU, a driver or CUDA headers. The few types below are declared
// here from NVIDIA's documented driver API (cuda.h, "Checkpointing" section);
// layouts must match it exactly: every *Args struct is 64 bytes.
//
// Calls that can take seconds (Lock waits up to its timeout, Checkpoint and
// Restore copy all of a process's GPU memory) run on the libuv thread pool
// and resolve a Promise; the quick queries are synchronous.
#include <napi.h>

#include <dlfcn.h>
#include <stdint.h>
#include <string.h>

#include <string>
#include <vector>

namespace {

typedef int CUresult;  // enum cudaError_enum; 0 is CUDA_SUCCESS
typedef int CUdevice;
struct CUuuid {
  char bytes[16];
};

// CUprocessState (cuda.h).
enum {
  kStateRunning = 0,
  kStateLocked = 1,
  kStateCheckpointed = 2,
  kStateFailed = 3,
};

struct CUcheckpointLockArgs {
  unsigned int timeoutMs;  // 0 waits forever
  unsigned int reserved0;
  uint64_t reserved1[7];
};
struct CUcheckpointCheckpointArgs {
  uint64_t reserved[8];
};
struct CUcheckpointGpuPair {
  CUuuid oldUuid;
  CUuuid newUuid;
};
struct CUcheckpointRestoreArgs {
  CUcheckpointGpuPair* gpuPairs;
  unsigned int gpuPairsCount;
  char reserved[64 - sizeof(CUcheckpointGpuPair*) - sizeof(unsigned int)];
};
struct CUcheckpointUnlockArgs {
  uint64_t reserved[8];
};
static_assert(sizeof(CUcheckpointLockArgs) == 64, "CUcheckpointLockArgs is 64 bytes");
static_assert(sizeof(CUcheckpointCheckpointArgs) == 64, "CUcheckpointCheckpointArgs is 64 bytes");
static_assert(sizeof(CUcheckpointRestoreArgs) == 64, "CUcheckpointRestoreArgs is 64 bytes");
static_assert(sizeof(CUcheckpointUnlockArgs) == 64, "CUcheckpointUnlockArgs is 64 bytes");

struct Api {
  void* handle = nullptr;
  std::string loadError;
  CUresult (*cuInit)(unsigned int) = nullptr;
  CUresult (*cuDriverGetVersion)(int*) = nullptr;
  CUresult (*cuGetErrorName)(CUresult, const char**) = nullptr;
  CUresult (*cuDeviceGetCount)(int*) = nullptr;
  CUresult (*cuDeviceGet)(CUdevice*, int) = nullptr;
  CUresult (*cuDeviceGetName)(char*, int, CUdevice) = nullptr;
  CUresult (*cuDeviceGetUuid)(CUuuid*, CUdevice) = nullptr;
  CUresult (*cuDeviceTotalMem)(size_t*, CUdevice) = nullptr;
  CUresult (*getState)(int, int*) = nullptr;
  CUresult (*lock)(int, CUcheckpointLockArgs*) = nullptr;
  CUresult (*checkpoint)(int, CUcheckpointCheckpointArgs*) = nullptr;
  CUresult (*restore)(int, CUcheckpointRestoreArgs*) = nullptr;
  CUresult (*unlock)(int, CUcheckpointUnlockArgs*) = nullptr;
  bool initialized = false;
  CUresult initResult = 0;
};

Api g_api;

template <typename F>
void Sym(const char* name, F* out) {
  *out = reinterpret_cast<F>(dlsym(g_api.handle, name));
}

std::string ErrorName(CUresult r) {
  const char* name = nullptr;
  if (g_api.cuGetErrorName && g_api.cuGetErrorName(r, &name) == 0 && name) return name;
  return "CUDA_ERROR_" + std::to_string(r);
}

// load(path): dlopen once; returns { loaded, error, checkpointApi }.
Napi::Value Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!g_api.handle && g_api.loadError.empty()) {
    std::string path = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value()
                                                               : std::string("libcuda.so.1");
    g_api.handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!g_api.handle) {
      const char* e = dlerror();
      g_api.loadError = e ? e : "dlopen failed";
    } else {
      Sym("cuInit", &g_api.cuInit);
      Sym("cuDriverGetVersion", &g_api.cuDriverGetVersion);
      Sym("cuGetErrorName", &g_api.cuGetErrorName);
      Sym("cuDeviceGetCount", &g_api.cuDeviceGetCount);
      Sym("cuDeviceGet", &g_api.cuDeviceGet);
      Sym("cuDeviceGetName", &g_api.cuDeviceGetName);
      Sym("cuDeviceGetUuid_v2", &g_api.cuDeviceGetUuid);
      if (!g_api.cuDeviceGetUuid) Sym("cuDeviceGetUuid", &g_api.cuDeviceGetUuid);
      Sym("cuDeviceTotalMem_v2", &g_api.cuDeviceTotalMem);
      Sym("cuCheckpointProcessGetState", &g_api.getState);
      Sym("cuCheckpointProcessLock", &g_api.lock);
      Sym("cuCheckpointProcessCheckpoint", &g_api.checkpoint);
      Sym("cuCheckpointProcessRestore", &g_api.restore);
      Sym("cuCheckpointProcessUnlock", &g_api.unlock);
    }
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("loaded", Napi::Boolean::New(env, g_api.handle != nullptr));
  out.Set("error", Napi::String::New(env, g_api.loadError));
  out.Set("checkpointApi", Napi::Boolean::New(env, g_api.getState && g_api.lock && g_api.checkpoint &&
                                                       g_api.restore && g_api.unlock));
  return out;
}

void RequireLoaded(Napi::Env env) {
  if (!g_api.handle) throw Napi::Error::New(env, "libcuda.so.1 is not loaded");
}

// driverVersion(): cuDriverGetVersion (works before cuInit), e.g. 12080.
Napi::Value DriverVersion(const Napi::CallbackInfo& info) {
  RequireLoaded(info.Env());
  int version = 0;
  if (!g_api.cuDriverGetVersion) return Napi::Number::New(info.Env(), -1);
  CUresult r = g_api.cuDriverGetVersion(&version);
  if (r != 0) throw Napi::Error::New(info.Env(), "cuDriverGetVersion: " + ErrorName(r));
  return Napi::Number::New(info.Env(), version);
}

// init(): cuInit(0) once; returns the error name or "" on success.
Napi::Value Init_(const Napi::CallbackInfo& info) {
  RequireLoaded(info.Env());
  if (!g_api.initialized) {
    g_api.initResult = g_api.cuInit ? g_api.cuInit(0) : 1;
    g_api.initialized = true;
  }
  return Napi::String::New(info.Env(), g_api.initResult == 0 ? std::string() : ErrorName(g_api.initResult));
}

// devices(): [{ index, name, uuid (hex), totalBytes }] (needs init()).
Napi::Value Devices(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireLoaded(env);
  Napi::Array out = Napi::Array::New(env);
  int count = 0;
  if (!g_api.cuDeviceGetCount || g_api.cuDeviceGetCount(&count) != 0) return out;
  for (int i = 0; i < count; i++) {
    CUdevice dev = 0;
    if (!g_api.cuDeviceGet || g_api.cuDeviceGet(&dev, i) != 0) continue;
    char name[256] = {0};
    if (g_api.cuDeviceGetName) g_api.cuDeviceGetName(name, sizeof name - 1, dev);
    CUuuid uuid;
    memset(&uuid, 0, sizeof uuid);
    if (g_api.cuDeviceGetUuid) g_api.cuDeviceGetUuid(&uuid, dev);
    char hex[33];
    for (int b = 0; b < 16; b++) snprintf(hex + 2 * b, 3, "%02x", static_cast<unsigned char>(uuid.bytes[b]));
    size_t total = 0;
    if (g_api.cuDeviceTotalMem) g_api.cuDeviceTotalMem(&total, dev);
    Napi::Object d = Napi::Object::New(env);
    d.Set("index", Napi::Number::New(env, i));
    d.Set("name", Napi::String::New(env, name));
    d.Set("uuid", Napi::String::New(env, hex));
    d.Set("totalBytes", Napi::Number::New(env, static_cast<double>(total)));
    out.Set(out.Length(), d);
  }
  return out;
}

// getState(pid): { code, error, state } where state is CUprocessState.
Napi::Value GetState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireLoaded(env);
  int pid = info[0].As<Napi::Number>().Int32Value();
  int state = -1;
  CUresult r = g_api.getState ? g_api.getState(pid, &state) : 801;  // CUDA_ERROR_NOT_SUPPORTED
  Napi::Object out = Napi::Object::New(env);
  out.Set("code", Napi::Number::New(env, r));
  out.Set("error", Napi::String::New(env, r == 0 ? std::string() : ErrorName(r)));
  out.Set("state", Napi::Number::New(env, state));
  return out;
}

enum class Op { kLock, kCheckpoint, kRestore, kUnlock };

class CallWorker : public Napi::AsyncWorker {
 public:
  CallWorker(Napi::Env env, Op op, int pid, unsigned int timeoutMs, std::vector<CUcheckpointGpuPair> pairs)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), op_(op), pid_(pid),
        timeoutMs_(timeoutMs), pairs_(std::move(pairs)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    switch (op_) {
      case Op::kLock: {
        CUcheckpointLockArgs args;
        memset(&args, 0, sizeof args);
        args.timeoutMs = timeoutMs_;
        result_ = g_api.lock ? g_api.lock(pid_, &args) : 801;
        break;
      }
      case Op::kCheckpoint: {
        CUcheckpointCheckpointArgs args;
        memset(&args, 0, sizeof args);
        result_ = g_api.checkpoint ? g_api.checkpoint(pid_, &args) : 801;
        break;
      }
      case Op::kRestore: {
        CUcheckpointRestoreArgs args;
        memset(&args, 0, sizeof args);
        if (!pairs_.empty()) {
          args.gpuPairs = pairs_.data();
          args.gpuPairsCount = static_cast<unsigned int>(pairs_.size());
        }
        result_ = g_api.restore ? g_api.restore(pid_, &args) : 801;
        break;
      }
      case Op::kUnlock: {
        CUcheckpointUnlockArgs args;
        memset(&args, 0, sizeof args);
        result_ = g_api.unlock ? g_api.unlock(pid_, &args) : 801;
        break;
      }
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::Object out = Napi::Object::New(env);
    out.Set("code", Napi::Number::New(env, result_));
    out.Set("error", Napi::String::New(env, result_ == 0 ? std::string() : ErrorName(result_)));
    deferred_.Resolve(out);
  }

 private:
  Napi::Promise::Deferred deferred_;
  Op op_;
  int pid_;
  unsigned int timeoutMs_;
  std::vector<CUcheckpointGpuPair> pairs_;
  CUresult result_ = 0;
};

bool ParseUuid(const std::string& hex, CUuuid* out) {
  std::string text = hex.compare(0, 4, "GPU-") == 0 ? hex.substr(4) : hex;
  std::string digits;
  for (char c : text) {
    if (c != '-') digits.push_back(c);
  }
  if (digits.size() != 32) return false;
  for (int b = 0; b < 16; b++) {
    char byte[3] = {digits[2 * b], digits[2 * b + 1], 0};
    char* end = nullptr;
    long v = strtol(byte, &end, 16);
    if (*end) return false;
    out->bytes[b] = static_cast<char>(v);
  }
  return true;
}

// call(op, pid, timeoutMs, pairs): Promise<{ code, error }>; op is
// "lock" | "checkpoint" | "restore" | "unlock"; pairs is [[oldUuidHex, newUuidHex], ...].
Napi::Value Call(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireLoaded(env);
  std::string name = info[0].As<Napi::String>().Utf8Value();
  Op op;
  if (name == "lock") op = Op::kLock;
  else if (name == "checkpoint") op = Op::kCheckpoint;
  else if (name == "restore") op = Op::kRestore;
  else if (name == "unlock") op = Op::kUnlock;
  else throw Napi::TypeError::New(env, "unknown CUDA checkpoint operation " + name);
  int pid = info[1].As<Napi::Number>().Int32Value();
  unsigned int timeoutMs = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Uint32Value() : 0;
  std::vector<CUcheckpointGpuPair> pairs;
  if (info.Length() > 3 && info[3].IsArray()) {
    Napi::Array arr = info[3].As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); i++) {
      Napi::Array pair = arr.Get(i).As<Napi::Array>();
      CUcheckpointGpuPair p;
      if (!ParseUuid(pair.Get(0u).As<Napi::String>().Utf8Value(), &p.oldUuid) ||
          !ParseUuid(pair.Get(1u).As<Napi::String>().Utf8Value(), &p.newUuid)) {
        throw Napi::TypeError::New(env, "GPU UUIDs must be 32 hex digits (optionally GPU-xxxxxxxx-...)");
      }
      pairs.push_back(p);
    }
  }
  CallWorker* worker = new CallWorker(env, op, pid, timeoutMs, std::move(pairs));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace

// Called from seqpacket.cc's module Init: adds the cuda* exports.
void InitCuda(Napi::Env env, Napi::Object exports) {
  exports.Set("cudaLoad", Napi::Function::New(env, Load, "cudaLoad"));
  exports.Set("cudaDriverVersion", Napi::Function::New(env, DriverVersion, "cudaDriverVersion"));
  exports.Set("cudaInit", Napi::Function::New(env, Init_, "cudaInit"));
  exports.Set("cudaDevices", Napi::Function::New(env, Devices, "cudaDevices"));
  exports.Set("cudaGetState", Napi::Function::New(env, GetState, "cudaGetState"));
  exports.Set("cudaCall", Napi::Function::New(env, Call, "cudaCall"));
}
