// SIMT emulation runtime: runs the kernels of cuda/*.cu (compiled as C++ against
// tests/emu/include/cuda_runtime.h) on the CPU, and implements the part of the CUDA runtime API
// their entry points and tests/test_native.cpp call.
//
// Execution model
//  - A launch is checked as a GPU checks it (block and grid limits, dynamic shared memory against
//    48 KiB or the cudaFuncSetAttribute opt-in, static + dynamic shared memory against the
//    emulated architecture's limit), then its blocks run one after another.
//  - Every CUDA thread of a block is a fiber with its own stack; a hand-written context switch
//    (callee-saved registers and the FP control words, no system call; x86-64 and aarch64) moves
//    between them. A fiber runs until it reaches a collective or ends, then switches straight to
//    the next thread the scheduler chose for this step, the last one back to the scheduler.
//  - __syncthreads completes when every thread of the block waits at the same __syncthreads.
//    Warp collectives (__syncwarp, shuffles, votes, mma.sync, ldmatrix) complete when every lane
//    named in the mask waits at the same collective with the same mask. Anything else is a bug in
//    the kernel and a fault: a lane of the mask that exited, waits at __syncthreads or at another
//    collective; a __syncthreads that part of the block reaches after the rest exited, or
//    different __syncthreads lines; a shuffle from a lane outside the mask. The message names the
//    kernel, block, thread, lane and source line.
//  - Schedules (CS_EMU_SCHEDULE), because a missing barrier may only show under skew:
//      lockstep  warps interleaved, each advanced by one collective per round, lanes in order;
//      greedy    (default) warps in a random order (CS_EMU_SEED), each run as far as it can go
//                before the next, lanes in a random order;
//      reverse   warps and lanes in descending order, each warp as far as it can go, blocks in
//                descending order.
//  - Memory is sequentially consistent (one OS thread): what cannot show here is a race that
//    needs real concurrency, e.g. a missing __syncwarp between a shuffle and a shared-memory read.
//  - Device memory is host memory. cudaMalloc returns exact-size allocations (so AddressSanitizer
//    sees one byte past the end) filled with CS_EMU_POISON (default 0xFF: NaN in f32, f16 and
//    bf16); shared memory, static and dynamic, is poisoned the same way at every block's start.
//  - Streams do not exist: work runs when it is enqueued, in order.
//  - A fault makes the launch return cudaErrorLaunchFailure with the fault's message (from
//    cudaGetErrorString), and, as on a GPU, every later call fails too (a sticky error); with
//    CS_EMU_FAULT=abort the process aborts at once instead.
//
// Environment: CS_EMU_SCHEDULE, CS_EMU_SEED, CS_EMU_POISON (a byte), CS_EMU_ARCH (80, 86, 87, 89
// or 90: the shared-memory limits; default 86, the smallest of the build's targets),
// CS_EMU_DEVICE_MEMORY (bytes, default 16 GiB), CS_EMU_FAULT, CS_EMU_LAUNCH_LOG (a file that
// receives one line per kernel at exit: what tests/gate/ResourceGate.java checks against ptxas),
// CS_EMU_QUIET (no statistics line at exit).
#include "cuda_runtime.h"
#include "kernel_symbols.h"

#include <sys/mman.h>

#include <algorithm>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define CS_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CS_EMU_ASAN 1
#endif
#endif
#ifdef CS_EMU_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

// ---- context switch ----------------------------------------------------------------------------
// cs_emu_switch(&save, next): pushes the callee-saved state on the current stack, stores the stack
// pointer in *save, loads `next` and pops the state saved there, returning into that context.
extern "C" void cs_emu_switch(void **save, void *next);
#if defined(__x86_64__)
__asm__(".text\n"
        ".globl cs_emu_switch\n"
        ".hidden cs_emu_switch\n"
        ".type cs_emu_switch,@function\n"
        "cs_emu_switch:\n"
        "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
        "  subq $8, %rsp\n  stmxcsr (%rsp)\n  fnstcw 4(%rsp)\n"
        "  movq %rsp, (%rdi)\n"
        "  movq %rsi, %rsp\n"
        "  ldmxcsr (%rsp)\n  fldcw 4(%rsp)\n  addq $8, %rsp\n"
        "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
        "  ret\n"
        ".size cs_emu_switch,.-cs_emu_switch\n"
        ".section .note.GNU-stack,\"\",@progbits\n"
        ".text\n");
#elif defined(__aarch64__)
__asm__(".text\n"
        ".globl cs_emu_switch\n"
        ".hidden cs_emu_switch\n"
        ".type cs_emu_switch,%function\n"
        "cs_emu_switch:\n"
        "  sub sp, sp, #176\n"
        "  stp x19, x20, [sp, #0]\n  stp x21, x22, [sp, #16]\n  stp x23, x24, [sp, #32]\n"
        "  stp x25, x26, [sp, #48]\n  stp x27, x28, [sp, #64]\n  stp x29, x30, [sp, #80]\n"
        "  stp d8, d9, [sp, #96]\n  stp d10, d11, [sp, #112]\n  stp d12, d13, [sp, #128]\n"
        "  stp d14, d15, [sp, #144]\n  mrs x9, fpcr\n  str x9, [sp, #160]\n"
        "  mov x9, sp\n  str x9, [x0]\n"
        "  mov sp, x1\n"
        "  ldr x9, [sp, #160]\n  msr fpcr, x9\n"
        "  ldp x19, x20, [sp, #0]\n  ldp x21, x22, [sp, #16]\n  ldp x23, x24, [sp, #32]\n"
        "  ldp x25, x26, [sp, #48]\n  ldp x27, x28, [sp, #64]\n  ldp x29, x30, [sp, #80]\n"
        "  ldp d8, d9, [sp, #96]\n  ldp d10, d11, [sp, #112]\n  ldp d12, d13, [sp, #128]\n"
        "  ldp d14, d15, [sp, #144]\n"
        "  add sp, sp, #176\n"
        "  ret\n"
        ".size cs_emu_switch,.-cs_emu_switch\n"
        ".section .note.GNU-stack,\"\",%progbits\n"
        ".text\n");
#else
#error "the SIMT emulation has a context switch for x86-64 and aarch64 only"
#endif

CS_EMU_API uint3 threadIdx, blockIdx;
CS_EMU_API dim3 blockDim, gridDim;

namespace cs_emu {

namespace {

// ---- configuration ------------------------------------------------------------------------------

enum class Schedule { Lockstep, Greedy, Reverse };

const char *env(const char *name) {
    const char *v = std::getenv(name);
    return v && *v ? v : nullptr;
}

struct Config {
    Schedule schedule = Schedule::Greedy;
    uint64_t seed = 1;
    uint8_t poison = 0xFF;
    int arch = 86;
    size_t device_memory = (size_t)16 << 30;
    bool abort_on_fault = false;
    bool quiet = false;
    std::string launch_log;

    Config() {
        if (const char *s = env("CS_EMU_SCHEDULE")) {
            const std::string v = s;
            if (v == "lockstep") schedule = Schedule::Lockstep;
            else if (v == "greedy") schedule = Schedule::Greedy;
            else if (v == "reverse") schedule = Schedule::Reverse;
            else {
                std::fprintf(stderr, "cs-emu: CS_EMU_SCHEDULE=%s: expected lockstep, greedy or reverse\n", s);
                std::exit(2);
            }
        }
        if (const char *s = env("CS_EMU_SEED")) seed = std::strtoull(s, nullptr, 0);
        if (const char *s = env("CS_EMU_POISON")) poison = (uint8_t)std::strtoul(s, nullptr, 0);
        if (const char *s = env("CS_EMU_ARCH")) arch = std::atoi(s);
        if (const char *s = env("CS_EMU_DEVICE_MEMORY")) device_memory = std::strtoull(s, nullptr, 0);
        if (const char *s = env("CS_EMU_FAULT")) abort_on_fault = std::string(s) == "abort";
        quiet = env("CS_EMU_QUIET") != nullptr;
        if (const char *s = env("CS_EMU_LAUNCH_LOG")) launch_log = s;
        if (shared_optin_limit() == 0) {
            std::fprintf(stderr, "cs-emu: CS_EMU_ARCH=%d: expected 80, 86, 87, 89 or 90\n", arch);
            std::exit(2);
        }
    }
    const char *schedule_name() const {
        return schedule == Schedule::Lockstep ? "lockstep" : schedule == Schedule::Greedy ? "greedy" : "reverse";
    }
    // Shared memory a block may use with the cudaFuncAttributeMaxDynamicSharedMemorySize opt-in
    // (CUDA C Programming Guide, compute capabilities table).
    size_t shared_optin_limit() const {
        switch (arch) {
        case 80: case 87: return 163 * 1024;
        case 86: case 89: return 99 * 1024;
        case 90: return 227 * 1024;
        default: return 0;
        }
    }
};

// Read once, before anything else of this file is constructed (and destroyed after it).
const Config g_config;
const Config &config() { return g_config; }

constexpr size_t kDefaultSharedLimit = 48 * 1024; // static + dynamic, without opt-in
constexpr unsigned kMaxThreads = 1024;

// ---- errors -------------------------------------------------------------------------------------

std::recursive_mutex api_mutex; // the emulation is one device: calls from several threads take turns
cudaError_t last_error = cudaSuccess;
cudaError_t sticky_error = cudaSuccess;
std::string fault_message; // of the sticky error

cudaError_t set_error(cudaError_t e) {
    if (e != cudaSuccess) last_error = e;
    return e;
}

// ---- statistics ---------------------------------------------------------------------------------

struct Stats {
    uint64_t launches = 0, rejected = 0, blocks = 0, threads = 0, switches = 0, warp_ops = 0, mma = 0,
             ldmatrix = 0, barriers = 0;
} stats;

// ---- kernels ------------------------------------------------------------------------------------

struct Kernel {
    KernelSymbol symbol;
    size_t max_dynamic = kDefaultSharedLimit; // raised by the cudaFuncSetAttribute opt-in
    bool opted_in = false;
    uint64_t launches = 0;
    unsigned max_threads = 0;
    size_t max_dynamic_used = 0;
};
std::unordered_map<const void *, Kernel> kernels;

Kernel &kernel_of(const void *fn) {
    auto it = kernels.find(fn);
    if (it != kernels.end()) return it->second;
    Kernel &k = kernels[fn];
    k.symbol = lookup_kernel(fn);
    return k;
}

// ---- threads of a block ---------------------------------------------------------------------------

enum class State : uint8_t { Ready, AtBarrier, AtCollective, Done };
enum class Op : uint8_t { Sync, Shuffle, Vote, Mma, Ldmatrix };

const char *op_name(Op op) {
    switch (op) {
    case Op::Sync: return "__syncwarp";
    case Op::Shuffle: return "a shuffle";
    case Op::Vote: return "a vote";
    case Op::Mma: return "mma.sync";
    default: return "ldmatrix";
    }
}

struct Thread {
    void *sp = nullptr; // saved stack pointer while switched out
    State state = State::Done;
    uint3 tid;
    // the collective this thread waits at
    Op op;
    unsigned mask;
    const char *file;
    int line;
    uint64_t value, result; // shuffle / vote
    int kind, arg, width;   // shuffle
    uint32_t a[4], b[2];    // mma fragments
    float c[4];
    MmaType mma_type;
    const void *row;        // ldmatrix
    int count;
    bool trans;
    uint32_t regs[4];
#ifdef CS_EMU_ASAN
    void *fake_stack = nullptr;
#endif
};

Thread threads[kMaxThreads];
unsigned block_threads = 0; // threads of the running block
Thread *current = nullptr;  // the thread running on a fiber, null on the scheduler
void *scheduler_sp = nullptr;
const std::function<void()> *kernel_body = nullptr;
const Kernel *running = nullptr;
bool faulted = false;
char *shared_buffer = nullptr; // exact size per launch, so AddressSanitizer sees overruns
// xorshift64*: the schedules need cheap, repeatable orders, not statistical quality.
uint64_t rng_state = g_config.seed * 0x9E3779B97F4A7C15ull + 1;
uint32_t random_below(uint32_t n) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)(((rng_state * 0x2545F4914F6CDD1Dull) >> 32) * n >> 32);
}
void shuffle(unsigned *v, unsigned n) { // Fisher-Yates
    for (unsigned i = n; i > 1; i--) std::swap(v[i - 1], v[random_below(i)]);
}

#ifdef CS_EMU_ASAN
void *scheduler_fake_stack = nullptr;
const void *scheduler_stack_bottom = nullptr;
size_t scheduler_stack_size = 0;
#endif

// ---- fiber stacks ----------------------------------------------------------------------------------

#ifdef CS_EMU_ASAN
constexpr size_t kStackBytes = 512 * 1024; // sanitizer frames carry red zones
#else
constexpr size_t kStackBytes = 128 * 1024;
#endif
constexpr size_t kGuardBytes = 4096;
char *stack_pool = nullptr;

char *stack_bottom(unsigned i) {
    if (!stack_pool) {
        const size_t per = kStackBytes + kGuardBytes;
        void *p = mmap(nullptr, per * kMaxThreads, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) {
            std::fprintf(stderr, "cs-emu: cannot map %zu MiB of fiber stacks\n", per * kMaxThreads >> 20);
            std::abort();
        }
        stack_pool = static_cast<char *>(p);
        for (unsigned k = 0; k < kMaxThreads; k++) mprotect(stack_pool + k * per, kGuardBytes, PROT_NONE); // overflow traps
    }
    return stack_pool + i * (kStackBytes + kGuardBytes) + kGuardBytes;
}

void fiber_entry();

// Prepares thread i's stack so that switching to it starts fiber_entry.
void init_fiber(unsigned i) {
    uint64_t *sp = reinterpret_cast<uint64_t *>(stack_bottom(i) + kStackBytes);
#if defined(__x86_64__)
    *--sp = 0;                                          // fiber_entry's return address: never used
    *--sp = reinterpret_cast<uint64_t>(&fiber_entry);   // where cs_emu_switch's ret goes
    for (int k = 0; k < 6; k++) *--sp = 0;              // rbp rbx r12..r15
    --sp;
    const uint32_t mxcsr = 0x1F80, fpcw = 0x037F;       // the ABI's initial control words
    std::memcpy(sp, &mxcsr, 4);
    std::memcpy(reinterpret_cast<char *>(sp) + 4, &fpcw, 4);
#else
    sp -= 22; // 176 bytes: x19..x30, d8..d15, fpcr
    std::memset(sp, 0, 176);
    sp[11] = reinterpret_cast<uint64_t>(&fiber_entry); // x30, where ret goes
#endif
    threads[i].sp = sp;
}

// The threads one scheduler step runs, in order: each, when it blocks or ends, switches straight
// to the next (one switch per thread instead of two through the scheduler); the last returns to
// the scheduler.
unsigned chain[32], chain_length = 0, chain_next = 0;
bool from_scheduler = false; // the switch in flight started on the scheduler's stack

#ifdef CS_EMU_ASAN
// After a switch lands on a fiber: ASan learns the stack it left; that of the scheduler is kept.
void landed(void *fake_stack) {
    const void *bottom;
    size_t size;
    __sanitizer_finish_switch_fiber(fake_stack, &bottom, &size);
    if (from_scheduler) {
        scheduler_stack_bottom = bottom;
        scheduler_stack_size = size;
    }
}
#endif

void enter(unsigned i) {
    current = &threads[i];
    threadIdx = threads[i].tid;
    stats.switches++;
}

// Scheduler → threads chain[0..n), each until it blocks or ends; returns after the last.
void run_chain(const unsigned *order, unsigned n) {
    std::memcpy(chain, order, n * sizeof *order);
    chain_length = n;
    chain_next = 1;
    enter(chain[0]);
    from_scheduler = true;
#ifdef CS_EMU_ASAN
    __sanitizer_start_switch_fiber(&scheduler_fake_stack, stack_bottom(chain[0]), kStackBytes);
#endif
    cs_emu_switch(&scheduler_sp, threads[chain[0]].sp);
#ifdef CS_EMU_ASAN
    __sanitizer_finish_switch_fiber(scheduler_fake_stack, nullptr, nullptr);
#endif
    current = nullptr;
}

// The running thread has blocked or ended: on to the next thread of the chain, or back to the
// scheduler (at once after a fault); returns when something resumes this thread.
void yield() {
    Thread *self = current;
    void **save = &self->sp;
    if (!faulted && chain_next < chain_length) {
        const unsigned next = chain[chain_next++];
        enter(next);
        from_scheduler = false;
#ifdef CS_EMU_ASAN
        __sanitizer_start_switch_fiber(self->state == State::Done ? nullptr : &self->fake_stack, stack_bottom(next),
                                       kStackBytes);
#endif
        cs_emu_switch(save, threads[next].sp);
    } else {
#ifdef CS_EMU_ASAN
        __sanitizer_start_switch_fiber(self->state == State::Done ? nullptr : &self->fake_stack, scheduler_stack_bottom,
                                       scheduler_stack_size);
#endif
        cs_emu_switch(save, scheduler_sp);
    }
#ifdef CS_EMU_ASAN
    landed(self->fake_stack);
#endif
}

void fiber_entry() {
#ifdef CS_EMU_ASAN
    landed(nullptr);
#endif
    (*kernel_body)();
    current->state = State::Done;
    yield();
    std::abort(); // a finished thread is never resumed
}

// ---- faults -------------------------------------------------------------------------------------------

std::string where(const Thread &t) {
    const unsigned linear = (unsigned)(&t - threads);
    char buf[256];
    std::snprintf(buf, sizeof buf, "block (%u,%u,%u) thread (%u,%u,%u) (warp %u lane %u)", blockIdx.x, blockIdx.y,
                  blockIdx.z, t.tid.x, t.tid.y, t.tid.z, linear / 32, linear % 32);
    return buf;
}

std::string site(const char *file, int line) {
    const char *slash = std::strrchr(file, '/');
    return std::string(slash ? slash + 1 : file) + ":" + std::to_string(line);
}

// A kernel bug: records the message and stops the launch (from a fiber: never returns to it).
[[gnu::format(printf, 2, 3)]] void fault(const Thread *t, const char *fmt, ...) {
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    std::string msg = "cs-emu fault in " + (running ? running->symbol.name : std::string("?"));
    if (t) msg += ", " + where(*t);
    msg += ": ";
    msg += text;
    msg += " [schedule ";
    msg += config().schedule_name();
    msg += ", seed " + std::to_string(config().seed) + "]";
    std::fprintf(stderr, "%s\n", msg.c_str());
    std::fflush(stderr);
    if (config().abort_on_fault) std::abort();
    if (!faulted) fault_message = msg;
    faulted = true;
    if (current) { // on a fiber: leave it for good
        current->state = State::Done;
        yield();
        std::abort();
    }
}

// ---- collectives (on a fiber) -------------------------------------------------------------------------

Thread &self(const char *what, const char *file, int line) {
    if (!current) {
        std::fprintf(stderr, "cs-emu: %s at %s outside a kernel\n", what, site(file, line).c_str());
        std::abort();
    }
    return *current;
}

void wait_collective(Thread &t, Op op, unsigned mask, const char *file, int line) {
    t.op = op;
    t.mask = mask;
    t.file = file;
    t.line = line;
    t.state = State::AtCollective;
    yield();
}

// ---- collectives (on the scheduler) ---------------------------------------------------------------------

// Every f16 bit pattern as float, by NVIDIA's own conversion, once (mma operands are converted
// by the million).
const std::vector<float> &half_values() {
    static const std::vector<float> table = [] {
        std::vector<float> t(65536);
        for (uint32_t i = 0; i < 65536; i++) {
            __half_raw r;
            r.x = (unsigned short)i;
            t[i] = __half2float(__half(r));
        }
        return t;
    }();
    return table;
}

float half_bits_to_float(uint16_t bits, MmaType type) {
    if (type == MmaType::BF16) {
        const uint32_t u = (uint32_t)bits << 16;
        float f;
        std::memcpy(&f, &u, 4);
        return f;
    }
    return half_values()[bits];
}

// The element i (0..7 of A, 0..3 of B) of a lane's fragment: register i/2, low half for even i.
uint16_t fragment_element(const uint32_t *regs, int i) { return (uint16_t)(regs[i / 2] >> (16 * (i % 2))); }

// mma.m16n8k16 with f32 accumulation, fragment layouts transcribed from the PTX ISA tables
// (../shared/docs/PTX-MMA.md): products exact, summed in double with C, rounded to f32 once.
void complete_mma(Thread *lanes) {
    stats.mma++;
    double A[16][16], B[16][8], C[16][8];
    const MmaType type = lanes[0].mma_type;
    for (int lane = 0; lane < 32; lane++) {
        const int group = lane >> 2, t = lane % 4;
        for (int i = 0; i < 8; i++) { // a_i: rows group / group+8, columns 2t + (i&1) (+8 for i >= 4)
            const int row = (i == 0 || i == 1 || i == 4 || i == 5) ? group : group + 8;
            const int col = 2 * t + (i & 1) + (i >= 4 ? 8 : 0);
            A[row][col] = half_bits_to_float(fragment_element(lanes[lane].a, i), type);
        }
        for (int i = 0; i < 4; i++) { // b_i: rows (k) 2t + (i&1) (+8 for i >= 2), column (n) group
            const int row = 2 * t + (i & 1) + (i >= 2 ? 8 : 0);
            B[row][group] = half_bits_to_float(fragment_element(lanes[lane].b, i), type);
        }
        for (int i = 0; i < 4; i++) { // c_i: rows group / group+8, columns 2t + (i&1)
            const int row = i < 2 ? group : group + 8;
            C[row][2 * t + (i & 1)] = lanes[lane].c[i];
        }
    }
    for (int lane = 0; lane < 32; lane++) {
        const int group = lane >> 2, t = lane % 4;
        for (int i = 0; i < 4; i++) {
            const int row = i < 2 ? group : group + 8, col = 2 * t + (i & 1);
            double s = C[row][col];
            for (int k = 0; k < 16; k++) s += A[row][k] * B[k][col];
            lanes[lane].c[i] = (float)s;
        }
    }
}

// ldmatrix.m8n8.x{1,2,4}[.trans].b16 (PTX-MMA.md): lanes 8j..8j+7 give the row addresses of matrix
// j; lane l receives, per matrix j, row l/4 columns 2(l%4), 2(l%4)+1 (transposed with .trans).
void complete_ldmatrix(Thread *lanes) {
    stats.ldmatrix++;
    const int count = lanes[0].count;
    const bool trans = lanes[0].trans;
    for (int j = 0; j < count; j++)
        for (int r = 0; r < 8; r++) {
            const Thread &src = lanes[8 * j + r];
            if ((uintptr_t)src.row % 16 != 0)
                fault(&src, "ldmatrix row address %p at %s is not 16-byte aligned", src.row, site(src.file, src.line).c_str());
        }
    if (faulted) return;
    for (int lane = 0; lane < 32; lane++)
        for (int j = 0; j < count; j++) {
            uint16_t e[2];
            for (int k = 0; k < 2; k++) {
                const int row = lane / 4, col = 2 * (lane % 4) + k;
                const int r = trans ? col : row, c = trans ? row : col; // element (r, c) of matrix j
                std::memcpy(&e[k], static_cast<const char *>(lanes[8 * j + r].row) + 2 * c, 2);
            }
            lanes[lane].regs[j] = (uint32_t)e[0] | ((uint32_t)e[1] << 16);
        }
}

// Completes one collective of warp w whose lanes have all arrived; false if there is none.
bool complete_collective(unsigned w) {
    const unsigned base = w * 32, lanes = std::min(32u, block_threads - base);
    Thread *L = &threads[base];
    for (unsigned l = 0; l < lanes; l++)
        if (L[l].state == State::AtCollective && !(L[l].mask >> l & 1)) {
            fault(&L[l], "the mask 0x%08x of %s at %s does not include the calling lane", L[l].mask, op_name(L[l].op),
                  site(L[l].file, L[l].line).c_str());
            return false;
        }
    for (unsigned first = 0; first < lanes; first++) {
        const Thread &t = L[first];
        if (t.state != State::AtCollective) continue;
        const unsigned mask = t.mask;
        bool arrived = true;
        for (unsigned l = 0; l < 32 && arrived; l++) {
            if (!(mask >> l & 1)) continue;
            if (l >= lanes) {
                fault(&t, "the mask 0x%08x of %s at %s names lane %u, which does not exist (block of %u threads)", mask,
                      op_name(t.op), site(t.file, t.line).c_str(), l, block_threads);
                return false;
            }
            const Thread &o = L[l];
            switch (o.state) {
            case State::Ready: arrived = false; break;
            case State::Done:
                fault(&t, "lane %u, named in the mask 0x%08x of %s at %s, has exited", l, mask, op_name(t.op),
                      site(t.file, t.line).c_str());
                return false;
            case State::AtBarrier:
                fault(&t, "lane %u, named in the mask 0x%08x of %s at %s, waits at __syncthreads at %s", l, mask,
                      op_name(t.op), site(t.file, t.line).c_str(), site(o.file, o.line).c_str());
                return false;
            case State::AtCollective:
                if (o.op != t.op || o.mask != mask || (o.op != Op::Sync && (o.line != t.line || o.file != t.file))) {
                    fault(&t, "lanes of one warp at different collectives: lane %u at %s (mask 0x%08x) at %s, lane %u at "
                              "%s (mask 0x%08x) at %s",
                          first, op_name(t.op), mask, site(t.file, t.line).c_str(), l, op_name(o.op), o.mask,
                          site(o.file, o.line).c_str());
                    return false;
                }
                break;
            }
        }
        if (!arrived) continue;
        stats.warp_ops++;
        switch (t.op) {
        case Op::Sync: break;
        case Op::Shuffle:
            for (unsigned l = 0; l < 32; l++) {
                if (!(mask >> l & 1)) continue;
                Thread &o = L[l];
                const unsigned width = (unsigned)o.width;
                if (width == 0 || width > 32 || (width & (width - 1))) {
                    fault(&o, "shuffle width %d at %s is not a power of two up to 32", o.width, site(o.file, o.line).c_str());
                    return false;
                }
                const unsigned segment = l & ~(width - 1);
                unsigned src = l;
                switch (o.kind) {
                case 0: src = segment + ((unsigned)o.arg & (width - 1)); break;               // idx
                case 1: src = l - (unsigned)o.arg; if ((int)src < (int)segment) src = l; break; // up
                case 2: src = l + (unsigned)o.arg; if (src >= segment + width) src = l; break;  // down
                default: src = l ^ (unsigned)o.arg; if (src >= segment + width) src = l; break; // xor
                }
                if (src >= 32 || !(mask >> src & 1)) {
                    fault(&o, "the shuffle at %s reads lane %u, which is outside its mask 0x%08x", site(o.file, o.line).c_str(),
                          src, mask);
                    return false;
                }
                o.result = L[src].value;
            }
            break;
        case Op::Vote: {
            unsigned ballot = 0;
            for (unsigned l = 0; l < 32; l++)
                if (mask >> l & 1 && L[l].value) ballot |= 1u << l;
            for (unsigned l = 0; l < 32; l++)
                if (mask >> l & 1) L[l].result = ballot;
            break;
        }
        case Op::Mma:
        case Op::Ldmatrix:
            if (mask != 0xffffffffu) {
                fault(&t, "%s at %s needs the whole warp (mask 0x%08x)", op_name(t.op), site(t.file, t.line).c_str(), mask);
                return false;
            }
            for (unsigned l = 1; l < 32; l++)
                if (t.op == Op::Mma ? L[l].mma_type != t.mma_type : (L[l].count != t.count || L[l].trans != t.trans)) {
                    fault(&L[l], "lanes disagree on the shape or type of %s at %s", op_name(t.op), site(t.file, t.line).c_str());
                    return false;
                }
            if (t.op == Op::Mma) complete_mma(L);
            else complete_ldmatrix(L);
            if (faulted) return false;
            break;
        }
        for (unsigned l = 0; l < 32; l++)
            if (mask >> l & 1) L[l].state = State::Ready;
        return true;
    }
    return false;
}

// ---- scheduling -----------------------------------------------------------------------------------

// Runs warp w's ready lanes until each blocks or ends, then completes what collectives it can.
bool step_warp(unsigned w) {
    const unsigned base = w * 32, lanes = std::min(32u, block_threads - base);
    unsigned order[32];
    unsigned n = 0;
    for (unsigned l = 0; l < lanes; l++)
        if (threads[base + l].state == State::Ready) order[n++] = base + l;
    if (config().schedule == Schedule::Greedy) shuffle(order, n);
    else if (config().schedule == Schedule::Reverse) std::reverse(order, order + n);
    if (n) run_chain(order, n);
    if (faulted) return false;
    bool completed = false;
    while (complete_collective(w)) completed = true;
    return !faulted && (n > 0 || completed);
}

// Releases a __syncthreads that every live thread waits at; false if the block has finished.
bool release_barrier() {
    const Thread *waiting = nullptr, *exited = nullptr;
    unsigned done = 0;
    for (unsigned i = 0; i < block_threads; i++) {
        const Thread &t = threads[i];
        if (t.state == State::Done) {
            done++;
            if (!exited) exited = &t;
        } else if (t.state == State::AtBarrier) {
            if (!waiting) waiting = &t;
            else if (t.line != waiting->line || t.file != waiting->file) {
                fault(&t, "threads of one block wait at different __syncthreads: %s and, thread (%u,%u,%u), %s",
                      site(t.file, t.line).c_str(), waiting->tid.x, waiting->tid.y, waiting->tid.z,
                      site(waiting->file, waiting->line).c_str());
                return false;
            }
        } else {
            fault(&t, "deadlock: a thread waits at %s at %s and nothing can complete it", op_name(t.op),
                  site(t.file, t.line).c_str());
            return false;
        }
    }
    if (!waiting) return false; // all done
    if (done) {
        fault(waiting, "__syncthreads at %s reached by %u of %u threads: thread (%u,%u,%u) and %u others exited before it",
              site(waiting->file, waiting->line).c_str(), block_threads - done, block_threads, exited->tid.x, exited->tid.y,
              exited->tid.z, done - 1);
        return false;
    }
    stats.barriers++;
    for (unsigned i = 0; i < block_threads; i++) threads[i].state = State::Ready;
    return true;
}

void run_block() {
    for (unsigned i = 0; i < block_threads; i++) {
        Thread &t = threads[i];
        t.tid = make_uint3(i % blockDim.x, i / blockDim.x % blockDim.y, i / (blockDim.x * blockDim.y));
        t.state = State::Ready;
        init_fiber(i);
    }
    const unsigned warps = (block_threads + 31) / 32;
    unsigned order[kMaxThreads / 32];
    for (unsigned w = 0; w < warps; w++) order[w] = config().schedule == Schedule::Reverse ? warps - 1 - w : w;
    for (;;) {
        if (config().schedule == Schedule::Greedy) shuffle(order, warps);
        bool progress = false;
        for (unsigned k = 0; k < warps && !faulted; k++) {
            if (config().schedule == Schedule::Lockstep) progress |= step_warp(order[k]);
            else
                while (step_warp(order[k])) progress = true;
        }
        if (faulted) return;
        if (!progress && !release_barrier()) return;
    }
}

void poison(const std::vector<Region> &regions) {
    for (const Region &r : regions) std::memset(r.address, config().poison, r.bytes);
}

std::string dims(dim3 d) { return "(" + std::to_string(d.x) + "," + std::to_string(d.y) + "," + std::to_string(d.z) + ")"; }

// What a GPU would refuse about this launch, or "" if nothing.
std::string launch_problem(const Kernel &k, dim3 grid, dim3 block, size_t smem) {
    const uint64_t threads_per_block = (uint64_t)block.x * block.y * block.z;
    if (block.x == 0 || block.y == 0 || block.z == 0 || grid.x == 0 || grid.y == 0 || grid.z == 0)
        return "a zero grid or block dimension";
    if (threads_per_block > kMaxThreads || block.x > 1024 || block.y > 1024 || block.z > 64)
        return "block " + dims(block) + " exceeds 1024 threads (or x, y > 1024, z > 64)";
    if (grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535)
        return "grid " + dims(grid) + " exceeds 2^31-1 in x or 65535 in y or z";
    if (smem > k.max_dynamic)
        return std::to_string(smem) + " bytes of dynamic shared memory exceed " + std::to_string(k.max_dynamic) +
               (k.opted_in ? " (the kernel's cudaFuncSetAttribute opt-in)" : " (48 KiB: no cudaFuncSetAttribute opt-in)");
    const size_t limit = k.opted_in ? config().shared_optin_limit() : kDefaultSharedLimit;
    if (k.symbol.static_bytes + smem > limit)
        return std::to_string(k.symbol.static_bytes) + " bytes of static + " + std::to_string(smem) +
               " bytes of dynamic shared memory exceed " + std::to_string(limit) + " (sm_" + std::to_string(config().arch) + ")";
    return "";
}

struct Registry {
    ~Registry() {
        const Config &c = config();
        if (!c.quiet)
            std::fprintf(stderr,
                         "cs-emu: schedule %s, seed %" PRIu64 ": %" PRIu64 " launches (%" PRIu64 " rejected), %" PRIu64
                         " blocks, %" PRIu64 " threads, %" PRIu64 " switches, %" PRIu64 " warp collectives, %" PRIu64
                         " mma, %" PRIu64 " ldmatrix, %" PRIu64 " block barriers\n",
                         c.schedule_name(), c.seed, stats.launches, stats.rejected, stats.blocks, stats.threads,
                         stats.switches, stats.warp_ops, stats.mma, stats.ldmatrix, stats.barriers);
        if (c.launch_log.empty()) return;
        FILE *f = std::fopen(c.launch_log.c_str(), "w");
        if (!f) {
            std::fprintf(stderr, "cs-emu: cannot write %s\n", c.launch_log.c_str());
            return;
        }
        std::fprintf(f, "# kernel\tlaunches\tmax_threads_per_block\tmax_dynamic_shared\tstatic_shared\tdynamic_shared_limit\tname\n");
        std::map<std::string, const Kernel *> sorted;
        for (const auto &e : kernels) sorted[e.second.symbol.mangled] = &e.second;
        for (const auto &e : sorted) {
            const Kernel &k = *e.second;
            std::fprintf(f, "%s\t%" PRIu64 "\t%u\t%zu\t%zu\t%zu\t%s\n", k.symbol.mangled.c_str(), k.launches, k.max_threads,
                         k.max_dynamic_used, k.symbol.static_bytes, k.max_dynamic, k.symbol.name.c_str());
        }
        std::fclose(f);
    }
} registry;

// ---- device memory ----------------------------------------------------------------------------------------

std::map<void *, size_t> allocations;
size_t allocated = 0;

cudaError_t allocate(void **p, size_t n) {
    if (!p) return set_error(cudaErrorInvalidValue);
    *p = nullptr;
    if (n > config().device_memory - std::min(allocated, config().device_memory)) return set_error(cudaErrorMemoryAllocation);
    void *mem = nullptr;
    if (posix_memalign(&mem, 256, n ? n : 1) != 0) return set_error(cudaErrorMemoryAllocation);
    std::memset(mem, config().poison, n);
    allocations[mem] = n;
    allocated += n;
    *p = mem;
    return cudaSuccess;
}

cudaError_t release(void *p) {
    if (!p) return cudaSuccess;
    auto it = allocations.find(p);
    if (it == allocations.end()) return set_error(cudaErrorInvalidValue);
    allocated -= it->second;
    allocations.erase(it);
    std::free(p);
    return cudaSuccess;
}

} // namespace

// ---- the kernel-facing API -------------------------------------------------------------------------------------

void *dynamic_shared_base() { return shared_buffer; }

void Site::syncthreads() const {
    Thread &t = self("__syncthreads", file, line);
    t.file = file;
    t.line = line;
    t.state = State::AtBarrier;
    yield();
}

void Site::syncwarp(unsigned mask) const { wait_collective(self("__syncwarp", file, line), Op::Sync, mask, file, line); }

uint64_t Site::shuffle(unsigned mask, uint64_t value, int kind, int arg, int width) const {
    Thread &t = self("a shuffle", file, line);
    t.value = value;
    t.kind = kind;
    t.arg = arg;
    t.width = width;
    wait_collective(t, Op::Shuffle, mask, file, line);
    return t.result;
}

unsigned Site::vote(unsigned mask, bool predicate) const {
    Thread &t = self("a vote", file, line);
    t.value = predicate;
    wait_collective(t, Op::Vote, mask, file, line);
    return (unsigned)t.result;
}

void Site::mma_m16n8k16(float c[4], const uint32_t a[4], const uint32_t b[2], MmaType type) const {
    Thread &t = self("mma.sync", file, line);
    std::memcpy(t.a, a, sizeof t.a);
    std::memcpy(t.b, b, sizeof t.b);
    std::memcpy(t.c, c, sizeof t.c);
    t.mma_type = type;
    wait_collective(t, Op::Mma, 0xffffffffu, file, line);
    std::memcpy(c, t.c, sizeof t.c);
}

void Site::ldmatrix(uint32_t *regs, int count, bool trans, const void *row) const {
    Thread &t = self("ldmatrix", file, line);
    if (count != 1 && count != 2 && count != 4) fault(&t, "ldmatrix .x%d at %s", count, site(file, line).c_str());
    t.row = row;
    t.count = count;
    t.trans = trans;
    wait_collective(t, Op::Ldmatrix, 0xffffffffu, file, line);
    std::memcpy(regs, t.regs, sizeof(uint32_t) * count);
}

cudaError_t launch(const cudaLaunchConfig_t &cfg, const void *kernel, const std::function<void()> &body) {
    std::lock_guard<std::recursive_mutex> lock(api_mutex);
    if (current) {
        std::fprintf(stderr, "cs-emu: a kernel launched from a kernel (dynamic parallelism is not emulated)\n");
        std::abort();
    }
    if (sticky_error != cudaSuccess) return set_error(sticky_error);
    Kernel &k = kernel_of(kernel);
    const std::string problem = launch_problem(k, cfg.gridDim, cfg.blockDim, cfg.dynamicSmemBytes);
    if (!problem.empty()) {
        stats.rejected++;
        std::fprintf(stderr, "cs-emu: launch of %s with grid %s, block %s rejected: %s\n", k.symbol.name.c_str(),
                     dims(cfg.gridDim).c_str(), dims(cfg.blockDim).c_str(), problem.c_str());
        const bool shared = problem.find("shared memory") != std::string::npos;
        return set_error(shared ? cudaErrorInvalidValue : cudaErrorInvalidConfiguration);
    }
    stats.launches++;
    k.launches++;
    gridDim = cfg.gridDim;
    blockDim = cfg.blockDim;
    block_threads = blockDim.x * blockDim.y * blockDim.z;
    k.max_threads = std::max(k.max_threads, block_threads);
    k.max_dynamic_used = std::max(k.max_dynamic_used, cfg.dynamicSmemBytes);
    running = &k;
    kernel_body = &body;
    faulted = false;
    const size_t shared_bytes = cfg.dynamicSmemBytes;
    shared_buffer = shared_bytes ? static_cast<char *>(std::malloc(shared_bytes)) : nullptr;
    const bool backwards = config().schedule == Schedule::Reverse;
    const uint64_t blocks = (uint64_t)gridDim.x * gridDim.y * gridDim.z;
    for (uint64_t n = 0; n < blocks && !faulted; n++) {
        const uint64_t b = backwards ? blocks - 1 - n : n;
        blockIdx = make_uint3((unsigned)(b % gridDim.x), (unsigned)(b / gridDim.x % gridDim.y),
                               (unsigned)(b / ((uint64_t)gridDim.x * gridDim.y)));
        poison(k.symbol.statics);
        if (shared_bytes) std::memset(shared_buffer, config().poison, shared_bytes);
        stats.blocks++;
        stats.threads += block_threads;
        run_block();
    }
    running = nullptr;
    std::free(shared_buffer);
    shared_buffer = nullptr;
    if (faulted) {
        sticky_error = cudaErrorLaunchFailure;
        return set_error(sticky_error);
    }
    return cudaSuccess;
}

} // namespace cs_emu

// ---- the CUDA runtime API (the part the kernels' entry points and the native tests use) ----------------------

using namespace cs_emu;

#define CS_EMU_GUARD std::lock_guard<std::recursive_mutex> lock(api_mutex)

extern "C" {

CS_EMU_API cudaError_t cudaGetDeviceCount(int *count) {
    CS_EMU_GUARD;
    if (!count) return set_error(cudaErrorInvalidValue);
    *count = 1;
    return cudaSuccess;
}
CS_EMU_API cudaError_t cudaGetDevice(int *device) {
    if (!device) return set_error(cudaErrorInvalidValue);
    *device = 0;
    return cudaSuccess;
}
CS_EMU_API cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : set_error(cudaErrorInvalidDevice); }
CS_EMU_API cudaError_t cudaGetLastError(void) {
    CS_EMU_GUARD;
    const cudaError_t e = sticky_error != cudaSuccess ? sticky_error : last_error;
    last_error = cudaSuccess;
    return e;
}
CS_EMU_API cudaError_t cudaPeekAtLastError(void) {
    CS_EMU_GUARD;
    return sticky_error != cudaSuccess ? sticky_error : last_error;
}
CS_EMU_API const char *cudaGetErrorName(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidPitchValue: return "cudaErrorInvalidPitchValue";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    default: return "cudaErrorUnknown";
    }
}
CS_EMU_API const char *cudaGetErrorString(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidPitchValue: return "invalid pitch argument";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorLaunchFailure: return fault_message.empty() ? "unspecified launch failure" : fault_message.c_str();
    default: return "unknown error";
    }
}
CS_EMU_API cudaError_t cudaDeviceSynchronize(void) {
    CS_EMU_GUARD;
    return sticky_error != cudaSuccess ? set_error(sticky_error) : cudaSuccess;
}
CS_EMU_API cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaDeviceSynchronize(); }
// As on a GPU: the errors go, and so does every allocation.
CS_EMU_API cudaError_t cudaDeviceReset(void) {
    CS_EMU_GUARD;
    sticky_error = last_error = cudaSuccess;
    fault_message.clear();
    while (!allocations.empty()) release(allocations.begin()->first);
    return cudaSuccess;
}
CS_EMU_API cudaError_t cudaMalloc(void **p, size_t n) {
    CS_EMU_GUARD;
    if (sticky_error != cudaSuccess) return set_error(sticky_error);
    return allocate(p, n);
}
CS_EMU_API cudaError_t cudaMallocAsync(void **p, size_t n, cudaStream_t) { return cudaMalloc(p, n); }
CS_EMU_API cudaError_t cudaFree(void *p) {
    CS_EMU_GUARD;
    return release(p);
}
CS_EMU_API cudaError_t cudaFreeAsync(void *p, cudaStream_t) { return cudaFree(p); }
CS_EMU_API cudaError_t cudaMemcpy(void *dst, const void *src, size_t n, enum cudaMemcpyKind) {
    CS_EMU_GUARD;
    if (sticky_error != cudaSuccess) return set_error(sticky_error);
    if (n && (!dst || !src)) return set_error(cudaErrorInvalidValue);
    if (n) std::memmove(dst, src, n);
    return cudaSuccess;
}
CS_EMU_API cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, enum cudaMemcpyKind kind, cudaStream_t) {
    return cudaMemcpy(dst, src, n, kind);
}
CS_EMU_API cudaError_t cudaMemcpy2D(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width, size_t height,
                                    enum cudaMemcpyKind) {
    CS_EMU_GUARD;
    if (sticky_error != cudaSuccess) return set_error(sticky_error);
    if (width > dpitch || width > spitch) return set_error(cudaErrorInvalidPitchValue);
    for (size_t r = 0; r < height; r++)
        std::memmove(static_cast<char *>(dst) + r * dpitch, static_cast<const char *>(src) + r * spitch, width);
    return cudaSuccess;
}
CS_EMU_API cudaError_t cudaMemcpy2DAsync(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width,
                                         size_t height, enum cudaMemcpyKind kind, cudaStream_t) {
    return cudaMemcpy2D(dst, dpitch, src, spitch, width, height, kind);
}
CS_EMU_API cudaError_t cudaMemset(void *p, int value, size_t n) {
    CS_EMU_GUARD;
    if (sticky_error != cudaSuccess) return set_error(sticky_error);
    if (n) std::memset(p, value, n);
    return cudaSuccess;
}
CS_EMU_API cudaError_t cudaMemsetAsync(void *p, int value, size_t n, cudaStream_t) { return cudaMemset(p, value, n); }
CS_EMU_API cudaError_t cudaFuncSetAttribute(const void *fn, enum cudaFuncAttribute attr, int value) {
    CS_EMU_GUARD;
    if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize) return cudaSuccess; // others are hints
    Kernel &k = kernel_of(fn);
    if (value < 0 || k.symbol.static_bytes + (size_t)value > config().shared_optin_limit()) {
        std::fprintf(stderr, "cs-emu: cudaFuncSetAttribute(%s, MaxDynamicSharedMemorySize, %d) above sm_%d's limit\n",
                     k.symbol.name.c_str(), value, config().arch);
        return set_error(cudaErrorInvalidValue);
    }
    k.max_dynamic = (size_t)value;
    k.opted_in = true;
    return cudaSuccess;
}

} // extern "C"
