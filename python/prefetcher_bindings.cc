#include "python/prefetcher_bindings.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "client/prefetcher.h"
#include "pybind11/numpy.h"
#include "pybind11/stl.h"
#include "python/addressing_bindings.h"
#include "python/client_bindings.h"
#include "python/numpy_arrays.h"
#include "python/row_buffer.h"
#include "python/status_error.h"

namespace engram::python {
namespace py = pybind11;
namespace {

// One step's lookups and the buffers they write. The C++ step is destroyed
// first (its destructor waits until nothing writes the buffers), and the
// buffers live on in whatever arrays wait() handed out.
class PyPrefetchStep {
 public:
  PyPrefetchStep(std::shared_ptr<PyClient> client,
                 std::vector<std::shared_ptr<RowBuffer>> buffers,
                 std::unique_ptr<client::PrefetchStep> step)
      : client_(std::move(client)),
        buffers_(std::move(buffers)),
        step_(std::move(step)) {}

  ~PyPrefetchStep() {
    // Lookups still in flight are waited for; their callbacks need no GIL,
    // but other Python threads should not stall meanwhile.
    py::gil_scoped_release release;
    step_.reset();
  }

  int num_layers() const { return static_cast<int>(buffers_.size()); }
  const client::PrefetchStep& step() const { return *step_; }

  // Waits for layer `layer` (timeout in seconds; None: until its lookup
  // ends, which its own deadline bounds) and returns its buffer.
  const std::shared_ptr<RowBuffer>& Wait(int layer,
                                         std::optional<double> timeout) const {
    if (layer < 0 || layer >= num_layers()) {
      throw py::index_error(
          absl::StrCat("layer ", layer, " not in [0, ", num_layers(), ")"));
    }
    const absl::Time deadline = timeout.has_value()
                                    ? absl::Now() + absl::Seconds(*timeout)
                                    : absl::InfiniteFuture();
    absl::Status status;
    {
      py::gil_scoped_release release;
      status = step_->Wait(layer, deadline);
    }
    ThrowIfError(std::move(status));
    return buffers_[layer];
  }

 private:
  // The client the lookups run on must outlive them.
  const std::shared_ptr<PyClient> client_;
  const std::vector<std::shared_ptr<RowBuffer>> buffers_;
  std::unique_ptr<client::PrefetchStep> step_;
};

class PyPrefetcher {
 public:
  PyPrefetcher(std::shared_ptr<PyClient> client,
               std::unique_ptr<client::Prefetcher> prefetcher)
      : client_(std::move(client)), prefetcher_(std::move(prefetcher)) {}

  const client::Prefetcher& prefetcher() const { return *prefetcher_; }

  int CheckLayer(int layer) const {
    if (layer < 0 || layer >= prefetcher_->num_layers()) {
      throw py::index_error(absl::StrCat("layer ", layer, " not in [0, ",
                                         prefetcher_->num_layers(), ")"));
    }
    return layer;
  }

  std::unique_ptr<PyPrefetchStep> Prefill(const TokenArray& tokens,
                                          std::optional<LengthArray> lengths,
                                          const std::string& request_id) {
    if (tokens.ndim() != 2) {
      throw py::value_error("tokens must be [batch, time]");
    }
    const int batch = static_cast<int>(tokens.shape(0));
    const int time = static_cast<int>(tokens.shape(1));
    absl::Span<const int32_t> length_span;
    if (lengths.has_value()) {
      length_span = absl::MakeConstSpan(lengths->data(), lengths->size());
    }
    const absl::Span<const int64_t> token_span(tokens.data(), tokens.size());
    return Start({batch, time}, [&](std::vector<absl::Span<char>> out) {
      return prefetcher_->Prefill(token_span, batch, time, length_span,
                                  std::move(out), request_id);
    });
  }

  std::unique_ptr<PyPrefetchStep> Decode(const TokenArray& new_tokens,
                                         const std::string& request_id) {
    if (new_tokens.ndim() != 1) {
      throw py::value_error("new_tokens must be [batch]");
    }
    const absl::Span<const int64_t> token_span(new_tokens.data(),
                                               new_tokens.size());
    return Start({static_cast<int64_t>(new_tokens.size())},
                 [&](std::vector<absl::Span<char>> out) {
                   return prefetcher_->Decode(token_span, std::move(out),
                                              request_id);
                 });
  }

 private:
  // Makes each layer's buffer ([positions..., rows_per_token, row shape])
  // and runs `start` on them with the GIL released.
  template <typename StartFn>
  std::unique_ptr<PyPrefetchStep> Start(const std::vector<int64_t>& positions,
                                        StartFn start)
      ABSL_LOCKS_EXCLUDED(mu_) {
    std::vector<std::shared_ptr<RowBuffer>> buffers;
    std::vector<absl::Span<char>> out;
    for (int layer = 0; layer < prefetcher_->num_layers(); ++layer) {
      std::vector<int64_t> shape = positions;
      shape.push_back(prefetcher_->rows_per_token(layer));
      const ElementType type = prefetcher_->element_type(layer);
      for (int64_t dim : RowShape(type, prefetcher_->row_bytes(layer), {})) {
        shape.push_back(dim);
      }
      buffers.push_back(RowBuffer::Create(type, std::move(shape)));
      out.push_back(buffers.back()->span());
    }
    absl::StatusOr<std::unique_ptr<client::PrefetchStep>> step;
    {
      py::gil_scoped_release release;
      absl::MutexLock lock(&mu_);
      step = start(std::move(out));
    }
    return std::make_unique<PyPrefetchStep>(client_, std::move(buffers),
                                            ValueOrThrow(std::move(step)));
  }

  const std::shared_ptr<PyClient> client_;
  // Serialises Prefill and Decode, which the C++ prefetcher requires.
  absl::Mutex mu_;
  // Its Prefill and Decode run under mu_; the rest is immutable.
  const std::unique_ptr<client::Prefetcher> prefetcher_;
};

// Client.prefetcher: a Prefetcher over `tables` (one per Engram layer).
// timeout (s), version and pin_id go into every lookup.
std::shared_ptr<PyPrefetcher> MakePrefetcher(
    std::shared_ptr<PyClient> client, const std::vector<std::string>& tables,
    double timeout, uint64_t version, uint64_t pin_id,
    std::optional<TokenArray> compression) {
  client::PrefetcherOptions options;
  options.tables = tables;
  if (compression.has_value()) {
    // The bound is the lookup's own: the tables' specs check the ids.
    const int64_t* values = compression->data();
    const int64_t* end = values + compression->size();
    options.compression = CompressionFromLookup(
        *compression, values == end ? 1 : *std::max_element(values, end) + 1);
  }
  options.lookup.timeout = Seconds(timeout);
  options.lookup.version = version;
  options.lookup.pin_id = pin_id;
  std::unique_ptr<client::Prefetcher> prefetcher;
  {
    py::gil_scoped_release release;  // Describes every table.
    prefetcher = ValueOrThrow(
        client::Prefetcher::Create(&client->client(), std::move(options)));
  }
  return std::make_shared<PyPrefetcher>(std::move(client),
                                        std::move(prefetcher));
}

}  // namespace

void RegisterPrefetcher(py::module_& module) {
  py::class_<PyPrefetchStep>(
      module, "PrefetchStep",
      "The lookups of one prefill or decode step, one per layer.")
      .def_property_readonly("num_layers", &PyPrefetchStep::num_layers)
      .def(
          "wait",
          [](const PyPrefetchStep& step, int layer,
             std::optional<double> timeout) {
            return ToNumpy(step.Wait(layer, timeout));
          },
          py::arg("layer"), py::arg("timeout") = py::none(),
          "Blocks until layer `layer`'s rows are in, at most `timeout` "
          "seconds (Error DEADLINE_EXCEEDED then; the lookup goes on and "
          "wait may be called again), and returns them: an ndarray "
          "[batch, time, rows_per_token, *row] (prefill) or [batch, "
          "rows_per_token, *row] (decode). The lookup's error otherwise.")
      .def(
          "wait_tensor",
          [](const PyPrefetchStep& step, int layer,
             std::optional<double> timeout) {
            return ToTorch(step.Wait(layer, timeout));
          },
          py::arg("layer"), py::arg("timeout") = py::none(),
          "As wait, as a torch tensor (DLPack, no copy).")
      .def_property_readonly(
          "rows_fetched",
          [](const PyPrefetchStep& s) { return s.step().rows_fetched(); },
          "Distinct rows fetched, over all layers.")
      .def_property_readonly("rows_wanted", [](const PyPrefetchStep& s) {
        return s.step().rows_wanted();
      });

  py::class_<PyPrefetcher, std::shared_ptr<PyPrefetcher>>(
      module, "Prefetcher",
      "Every Engram layer's rows for a step, addressed here from the "
      "tables' hash specs and fetched at once (Client.prefetcher).")
      .def_property_readonly(
          "num_layers",
          [](const PyPrefetcher& p) { return p.prefetcher().num_layers(); })
      .def(
          "rows_per_token",
          [](const PyPrefetcher& p, int layer) {
            return p.prefetcher().rows_per_token(p.CheckLayer(layer));
          },
          py::arg("layer"))
      .def(
          "row_bytes",
          [](const PyPrefetcher& p, int layer) {
            return p.prefetcher().row_bytes(p.CheckLayer(layer));
          },
          py::arg("layer"))
      .def(
          "element_type",
          [](const PyPrefetcher& p, int layer) {
            return std::string(ElementTypeName(
                p.prefetcher().element_type(p.CheckLayer(layer))));
          },
          py::arg("layer"))
      .def(
          "hash_spec",
          [](const PyPrefetcher& p, int layer) {
            return PyHashSpec{std::make_shared<const HashSpec>(
                p.prefetcher().hash_spec(p.CheckLayer(layer)))};
          },
          py::arg("layer"))
      .def("prefill", &PyPrefetcher::Prefill, py::arg("tokens"),
           py::arg("lengths") = py::none(), py::kw_only(),
           py::arg("request_id") = "",
           "Starts fetching every layer's rows of raw token ids [batch, "
           "time] (sequence b's real tokens its last lengths[b] positions) "
           "and starts the sequences' decode history afresh. request_id: "
           "this step's x-request-id (default: the client's). Error "
           "INVALID_ARGUMENT for bad shapes, tokens or request id (nothing "
           "fetched).")
      .def("decode", &PyPrefetcher::Decode, py::arg("new_tokens"),
           py::kw_only(), py::arg("request_id") = "",
           "Starts fetching the rows of one new token per sequence [batch]; "
           "request_id as prefill's.");

  // The Client class is RegisterClient's; the method is added here, where
  // the Prefetcher type is complete.
  auto client_class =
      py::reinterpret_borrow<py::class_<PyClient, std::shared_ptr<PyClient>>>(
          module.attr("Client"));
  client_class.def(
      "prefetcher", &MakePrefetcher, py::arg("tables"), py::kw_only(),
      py::arg("timeout") = 0.0, py::arg("version") = 0, py::arg("pin_id") = 0,
      py::arg("compression") = py::none(),
      "A Prefetcher over one table per Engram layer (each with its hash "
      "spec). timeout (s), version, pin_id apply to every lookup. "
      "compression: the model's token compression lookup (1-D int64, raw "
      "id -> compressed id) for tables whose specs hash compressed ids "
      "(HashSpec.compression_digest), refused for others; None: the map "
      "the server keeps for them (Client.compression_map).");
}

}  // namespace engram::python
