// llama.cpp's RPC backend (ggml-rpc): remote ggml devices served by rpc-server workers. Native only; on Wasm every
// call reports that RPC is not available.
//
// libggml-rpc is our build of the pinned release (native/build-rpc.mjs) with a patch: a refused or lost connection
// does not abort the process, it is counted per endpoint (hybrid_llm_rpc_failures). A count that moved across a
// load or a decode means what was computed cannot be trusted: the caller reports an error instead.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "llama-api.h"

// Loads libggml-rpc from `library` (once per process) and adds each endpoint ("host:port") as a server; appends its
// devices to `devices`. Returns an error message, empty on success. Blocks on the network: call off the JS thread.
std::string rpc_add_servers(const std::string & library, const std::vector<std::string> & endpoints,
                            std::vector<ggml_backend_dev_t> & devices);

// Sum of the failure counts of these endpoints (0 when RPC was never loaded).
uint64_t rpc_failures(const std::vector<std::string> & endpoints);

// "RPC server A, B lost" style reason for an error message.
std::string rpc_lost_message(const std::vector<std::string> & endpoints);
