// Python bindings of the control plane's patch calls (EngramAdmin in
// proto/engram/v1/admin_service.proto), over cli::AdminChannel:
// engram_client.AdminClient.
//
//   admin = engram_client.AdminClient("127.0.0.1:50051", token_file="t")
//   version = admin.apply_patch("layer_1", ids, rows)["version"]
//   admin.rollback("layer_1")
//
// Or step by step: create_patch, upload_patch (any number), commit_patch,
// activate_version; abort_patch, list_versions. Results are dicts with the
// proto's field names (PatchInfo, VersionInfo, ListVersionsResponse).
// Errors are engram_client.Error with the server's status. Thread-safe;
// the GIL is released during every call.
#ifndef ENGRAM_PYTHON_ADMIN_BINDINGS_H_
#define ENGRAM_PYTHON_ADMIN_BINDINGS_H_

#include "pybind11/pybind11.h"

namespace engram::python {

void RegisterAdmin(pybind11::module_& module);

}  // namespace engram::python

#endif  // ENGRAM_PYTHON_ADMIN_BINDINGS_H_
