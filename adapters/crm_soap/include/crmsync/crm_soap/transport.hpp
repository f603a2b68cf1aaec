// Builds the SOAP CrmAdapter on a transport of the caller's choice (tests: a fake that
// records requests and replays canned responses).
#pragma once

#include <memory>

#include "crmsync/crm_soap/soap_crm_adapter.hpp"
#include "crmsync/http/client.hpp"

namespace crmsync {

std::unique_ptr<CrmAdapter> make_soap_crm_adapter(const SoapCrmConfig& config, Clock& clock,
                                                  std::unique_ptr<http::Transport> transport);

}  // namespace crmsync
