// `engramctl addresses`: computes Engram row addresses locally, exactly as
// the reference does, and prints them in the layout of the shared test
// vectors:
//
//   engramctl addresses --seed 0 --layer-ids 1,15 --vocab-sizes 646400,646400 \
//       --max-ngram 3 --heads 8 --pad-id 2 --tokenizer-vocab 129280 \
//       [--compression FILE.npy] --tokens "1,2,3;4,5,6"
//
// Sequences are separated by ';'. Shorter sequences are left-padded and the
// output then says so ("padding": "left", "lengths": [...]).
#ifndef ENGRAM_CLI_ADDRESSES_COMMAND_H_
#define ENGRAM_CLI_ADDRESSES_COMMAND_H_

#include <string>

#include "absl/status/statusor.h"

namespace engram::cli {

// The JSON for the addresses command's flags. InvalidArgument for bad
// flags or token ids; the compression map's errors.
absl::StatusOr<std::string> RunAddressesCommand();

}  // namespace engram::cli

#endif  // ENGRAM_CLI_ADDRESSES_COMMAND_H_
