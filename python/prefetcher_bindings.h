// Python bindings of client::Prefetcher: every Engram layer's rows for a
// prefill batch or a decode step, fetched at once, waited for per layer.
//
//   prefetcher = client.prefetcher(["layer_1", "layer_15"])
//   step = prefetcher.prefill(tokens)               # [batch, time] int64
//   ... layers before layer 1 ...
//   rows = step.wait(0, timeout=0.002)  # ndarray [batch, time, R, head_dim]
//   step = prefetcher.decode(new_tokens)            # [batch]
//   rows = step.wait_tensor(0)          # torch [batch, R, head_dim]
//
// A step owns its layers' buffers (RowBuffer); wait() hands out arrays over
// them, which stay valid as long as they are referenced, after the step
// too. prefill/decode calls of one prefetcher are serialised (they share
// the sequences' history); steps may be waited on from any thread. The
// GIL is released while addressing, starting lookups and waiting.
#ifndef ENGRAM_PYTHON_PREFETCHER_BINDINGS_H_
#define ENGRAM_PYTHON_PREFETCHER_BINDINGS_H_

#include "pybind11/pybind11.h"

namespace engram::python {

// engram_client.Prefetcher and PrefetchStep, and Client.prefetcher.
// REQUIRES: RegisterClient(module) ran.
void RegisterPrefetcher(pybind11::module_& module);

}  // namespace engram::python

#endif  // ENGRAM_PYTHON_PREFETCHER_BINDINGS_H_
