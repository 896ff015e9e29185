// The engram_client Python module: the C++ client for Python inference
// workers (see README "Python client"). Each part registers its own
// classes; this file puts them together.
#include "common/malloc_tuning.h"
#include "pybind11/pybind11.h"
#include "python/addressing_bindings.h"
#include "python/admin_bindings.h"
#include "python/client_bindings.h"
#include "python/prefetcher_bindings.h"
#include "python/row_buffer.h"
#include "python/status_error.h"

PYBIND11_MODULE(engram_client, module) {
  namespace python = engram::python;
  module.doc() =
      "Client of engram-server: lookups, the Engram prefetcher, addressing "
      "and patches, with results in numpy arrays (and torch tensors) over "
      "the client's own buffers.";
  python::RegisterStatusError(module);
  python::RegisterRowBuffer(module);
  python::RegisterAddressing(module);
  python::RegisterClient(module);
  python::RegisterPrefetcher(module);
  python::RegisterAdmin(module);
  module.def("tune_malloc_for_large_buffers",
             &engram::TuneMallocForLargeBuffers,
             "Keep freed large blocks in glibc's heap for reuse instead of "
             "returning them to the kernel after every lookup (see "
             "common/malloc_tuning.h). Call once, early, in processes that "
             "look up hundreds of rows at a time; it affects the whole "
             "process. No effect with other allocators.");
}
