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

// The failure count of each endpoint, in order (all 0 when RPC was never loaded). Compare two readings with !=.
std::vector<uint64_t> rpc_failures(const std::vector<std::string> & endpoints);

// The error message for a failure: names the endpoints whose count moved since `before` (rpc_failures' reading).
std::string rpc_lost_message(const std::vector<std::string> & endpoints, const std::vector<uint64_t> & before);
