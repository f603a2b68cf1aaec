// One EWS operation over the transport (internal to store_ews): the SOAP request with its
// headers and credentials, retries of transient failures with backoff honouring
// BackOffMilliseconds, and never a second copy of a request that may have been acted on.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "codec.hpp"
#include "crmsync/store_ews/ews_store.hpp"

namespace crmsync::ews {

class Caller {
 public:
  // Both must outlive the caller.
  Caller(const EwsStoreConfig& config, http::Transport& transport)
      : config_(config), transport_(transport) {}

  // The response messages of `operation` (an element from codec.hpp), in input order.
  // `may_repeat` false: a request that may have been acted on (a CreateItem whose reply was
  // lost, or partly refused) is not sent again; the caller sorts out each message.
  Result<std::vector<Message>> call(std::string_view op, const std::string& operation,
                                    bool may_repeat);

  // The POST of one operation, without its Authorization (read per attempt).
  http::Request soap_request(std::string_view op, const std::string& operation) const;
  // The Authorization header; "" for negotiate, which the transport's authenticator adds per
  // connection.
  Result<std::string> authorization() const;

  http::Transport& transport() { return transport_; }
  const EwsStoreConfig& config() const { return config_; }

 private:
  void sleep(std::chrono::milliseconds d) const;

  const EwsStoreConfig& config_;
  http::Transport& transport_;
};

// The items of a response message's m:Items (GetItem, CreateItem, UpdateItem).
Result<std::vector<RawItem>> items_in(const Message& m, std::string_view op);
// The one item of such a message.
Result<RawItem> one_item_in(const Message& m, std::string_view op);
// The new item's id from a CreateItem response message; errors in context `what`.
Result<ItemRef> created_ref(const Message& m, std::string_view what);

}  // namespace crmsync::ews
