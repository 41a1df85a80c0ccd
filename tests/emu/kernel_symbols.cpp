// SIMT emulation: kernel names and __shared__ variables from the ELF symbol table (.symtab) of the
// executable or shared library that holds a kernel. A GPU knows each kernel's static shared memory
// from the compiler; the emulation learns it here, to poison it per block and to check a launch
// against the shared-memory limit. Under the emulation a __shared__ variable is a function-local
// static (CUDA allows no other writable statics in a kernel), named "_ZZ<kernel>E<variable>".
#include "kernel_symbols.h"

#include <cxxabi.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>

namespace cs_emu {
namespace {

struct Symbol {
    std::string name;
    uintptr_t address; // run-time address
    size_t size;
};

// The symbols of one loaded ELF file that the emulation needs.
struct Module {
    uintptr_t base = 0, end = 0;               // the file's mapped address range
    std::map<uintptr_t, std::string> functions; // run-time address → mangled name
    std::vector<Symbol> statics;               // function-local statics in writable sections
};

std::string demangle(const std::string &mangled) {
    int status = 0;
    std::unique_ptr<char, decltype(&std::free)> s(abi::__cxa_demangle(mangled.c_str(), nullptr, nullptr, &status),
                                                  &std::free);
    return status == 0 && s ? std::string(s.get()) : mangled;
}

// Reads `path`'s .symtab. `load_bias` is what the loader added to the file's addresses.
void read_symbols(const char *path, uintptr_t load_bias, Module &m) {
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    struct stat st;
    if (fstat(fd, &st) != 0 || (size_t)st.st_size < sizeof(Elf64_Ehdr)) {
        close(fd);
        return;
    }
    const size_t size = (size_t)st.st_size;
    void *map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return;
    const char *file = static_cast<const char *>(map);
    const auto *eh = reinterpret_cast<const Elf64_Ehdr *>(file);
    const bool ok = std::memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 && eh->e_ident[EI_CLASS] == ELFCLASS64 &&
                    eh->e_shoff != 0 && eh->e_shoff + (size_t)eh->e_shnum * sizeof(Elf64_Shdr) <= size &&
                    eh->e_shstrndx < eh->e_shnum;
    if (ok) {
        const auto *sh = reinterpret_cast<const Elf64_Shdr *>(file + eh->e_shoff);
        for (unsigned i = 0; i < eh->e_shnum; i++) {
            if (sh[i].sh_type != SHT_SYMTAB || sh[i].sh_link >= eh->e_shnum) continue;
            const auto *sym = reinterpret_cast<const Elf64_Sym *>(file + sh[i].sh_offset);
            const char *str = file + sh[sh[i].sh_link].sh_offset;
            const size_t count = sh[i].sh_size / sizeof(Elf64_Sym);
            for (size_t k = 0; k < count; k++) {
                const Elf64_Sym &s = sym[k];
                if (s.st_name == 0) continue;
                const int type = ELF64_ST_TYPE(s.st_info);
                if (type == STT_FUNC && s.st_value != 0) {
                    m.functions[load_bias + s.st_value] = str + s.st_name;
                } else if (type == STT_OBJECT && s.st_shndx != SHN_UNDEF && s.st_shndx < eh->e_shnum &&
                           (sh[s.st_shndx].sh_flags & (SHF_WRITE | SHF_ALLOC)) == (SHF_WRITE | SHF_ALLOC) &&
                           std::strncmp(str + s.st_name, "_ZZ", 3) == 0) {
                    m.statics.push_back({str + s.st_name, load_bias + s.st_value, s.st_size});
                }
            }
        }
    }
    munmap(map, size);
}

struct Lookup {
    const void *address;
    Module *module;
};

std::mutex mutex;
std::vector<std::unique_ptr<Module>> modules;

// The module (loaded ELF file) whose mapped segments contain `address`, read once.
Module *module_of(const void *address) {
    for (auto &m : modules)
        if ((uintptr_t)address >= m->base && (uintptr_t)address < m->end) return m.get();
    struct Found {
        uintptr_t target;
        std::string path;
        uintptr_t bias = 0, lo = UINTPTR_MAX, hi = 0;
        bool hit = false;
    } found{(uintptr_t)address, {}};
    dl_iterate_phdr(
        [](dl_phdr_info *info, size_t, void *data) -> int {
            auto *f = static_cast<Found *>(data);
            uintptr_t lo = UINTPTR_MAX, hi = 0;
            for (int i = 0; i < info->dlpi_phnum; i++) {
                const auto &ph = info->dlpi_phdr[i];
                if (ph.p_type != PT_LOAD) continue;
                const uintptr_t a = info->dlpi_addr + ph.p_vaddr;
                lo = std::min(lo, a);
                hi = std::max(hi, a + ph.p_memsz);
            }
            if (f->target < lo || f->target >= hi) return 0;
            f->hit = true;
            f->bias = info->dlpi_addr;
            f->lo = lo;
            f->hi = hi;
            f->path = info->dlpi_name && info->dlpi_name[0] ? info->dlpi_name : "/proc/self/exe";
            return 1;
        },
        &found);
    auto m = std::make_unique<Module>();
    if (found.hit) {
        m->base = found.lo;
        m->end = found.hi;
        read_symbols(found.path.c_str(), found.bias, *m);
    } else {
        m->base = m->end = (uintptr_t)address;
    }
    modules.push_back(std::move(m));
    return modules.back().get();
}

// "_ZZ<encoding of f>E": the prefix of the names of f's function-local statics.
std::string statics_prefix(const std::string &function) {
    return function.rfind("_Z", 0) == 0 ? "_ZZ" + function.substr(2) + "E" : std::string();
}

size_t round16(size_t n) { return (n + 15) / 16 * 16; }

} // namespace

KernelSymbol lookup_kernel(const void *kernel) {
    std::lock_guard<std::mutex> lock(mutex);
    Module *m = module_of(kernel);
    KernelSymbol k;
    auto it = m->functions.find((uintptr_t)kernel);
    if (it == m->functions.end()) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "kernel@%p", kernel);
        k.mangled = k.name = buf;
        return k;
    }
    k.mangled = it->second;
    k.name = demangle(k.mangled);
    const std::string prefix = statics_prefix(k.mangled);
    for (const Symbol &s : m->statics)
        if (!prefix.empty() && s.name.rfind(prefix, 0) == 0) {
            k.statics.push_back({reinterpret_cast<void *>(s.address), s.size});
            k.static_bytes += round16(s.size);
        }
    return k;
}

} // namespace cs_emu
