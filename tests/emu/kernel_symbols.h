// SIMT emulation, internal: what the ELF symbol table says about an emulated kernel.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace cs_emu {

struct Region {
    void *address;
    size_t bytes;
};

struct KernelSymbol {
    std::string mangled;         // as nvcc's ptxas names the kernel (anonymous namespace aside)
    std::string name;            // demangled, for messages
    std::vector<Region> statics; // the kernel's __shared__ variables (function-local statics)
    size_t static_bytes = 0;     // their total size, each rounded up to 16 bytes as ptxas lays them out
};

// The kernel whose code starts at `kernel` (a function address), read from the symbol table of
// the file that holds it: its name and its __shared__ variables, which the emulation keeps as
// function-local statics, named "_ZZ<kernel>E<variable>". __shared__ variables of a device
// function the kernel calls are not found (the compiler knows them: tests/gate/ResourceGate.java
// checks its numbers). Without a symbol table (a stripped file) the name is the address and
// statics are empty.
KernelSymbol lookup_kernel(const void *kernel);

} // namespace cs_emu
