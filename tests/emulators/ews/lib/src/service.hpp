// The EWS operations: request parsing and validation, dispatch, response
// envelopes and faults, subscriptions and the event feed for streaming.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "items.hpp"
#include "store.hpp"
#include "xml.hpp"

namespace ews_emulator {

// A request-level failure: HTTP 500 with s:Fault, as Exchange sends it.
struct Fault {
  std::string code;         // ErrorSchemaValidation, ErrorServerBusy, ...
  std::string faultstring;  // human text in <faultstring>
  std::string message;      // detail/e:Message
  std::string message_xml;  // children of detail/t:MessageXml (already XML)
  int http_status = 500;
};

// A GetStreamingEvents request accepted for streaming.
struct StreamPlan {
  std::vector<std::string> subscriptions;
  int timeout_minutes = 1;
};

struct SoapResult {
  std::string body;
  std::optional<StreamPlan> stream;
};

struct Subscription {
  std::string id;
  std::int64_t mailbox = 0;
  bool all_folders = false;
  std::set<std::string> folders;
  std::set<std::string> types;
  std::int64_t last_seq = 0;
  bool streaming = false;
  int timeout_minutes = 30;
  std::chrono::steady_clock::time_point last_use;
};

class Service {
 public:
  Service(Store& store, const Schemas& schemas) : store_(store), schemas_(schemas) {}

  // Handles one SOAP request of an authenticated user. Throws Fault. With
  // `busy_ms`, a valid request is answered (HTTP 200) with one ErrorServerBusy
  // response message carrying BackOffMilliseconds, without being executed.
  SoapResult handle(const std::string& body, const User& user,
                    std::optional<int> busy_ms = std::nullopt);

  static std::string fault_envelope(const Fault& f);
  static Fault server_busy(int backoff_ms);

  // Streaming: an envelope with the events pending for these subscriptions
  // (advancing them), or "" when there are none.
  std::string stream_events(const std::vector<std::string>& subscriptions);
  // An envelope carrying only ConnectionStatus (OK or Closed).
  std::string stream_status(const char* status);
  bool subscription_exists(const std::string& id) const { return subs_.count(id) > 0; }

  // Called after every committed change that produced events.
  void on_events(std::function<void()> hook) { hook_ = std::move(hook); }
  void reset() { subs_.clear(); }
  void set_minute(std::chrono::milliseconds m) { minute_ = m; }
  std::chrono::milliseconds minute() const { return minute_; }

 private:
  struct Ctx {
    User user;
    std::int64_t mailbox = 0;
    std::string email;
    std::string zone;  // the TimeZoneContext header's Windows zone id ("" = UTC)
  };

  std::string dispatch(const std::string& op, const xmlNode* req, const Ctx& ctx,
                       std::optional<StreamPlan>& stream);

  std::string get_folder(const xmlNode* req, const Ctx& ctx);
  std::string find_folder(const xmlNode* req, const Ctx& ctx);
  std::string sync_folder_items(const xmlNode* req, const Ctx& ctx);
  std::string sync_folder_hierarchy(const xmlNode* req, const Ctx& ctx);
  std::string find_item(const xmlNode* req, const Ctx& ctx);
  std::string get_item(const xmlNode* req, const Ctx& ctx);
  std::string create_item(const xmlNode* req, const Ctx& ctx);
  std::string update_item(const xmlNode* req, const Ctx& ctx);
  std::string delete_item(const xmlNode* req, const Ctx& ctx);
  std::string subscribe(const xmlNode* req, const Ctx& ctx);
  std::string get_events(const xmlNode* req, const Ctx& ctx);
  std::string get_streaming_events(const xmlNode* req, const Ctx& ctx,
                                   std::optional<StreamPlan>& stream);
  std::string unsubscribe(const xmlNode* req, const Ctx& ctx);
  std::string resolve_names(const xmlNode* req, const Ctx& ctx);
  std::string convert_id(const xmlNode* req, const Ctx& ctx);
  // user_config.cpp: Get/Create/Update/DeleteUserConfiguration.
  std::string user_configuration(const std::string& op, const xmlNode* req, const Ctx& ctx);

  Folder resolve_folder(const xmlNode* id_element, const Ctx& ctx);
  Item resolve_item(const xmlNode* item_id);
  ItemData full_item(const Item& item);
  std::string render_folder(const Folder& f, const std::string& base);
  std::string mailbox_xml(std::int64_t mailbox);
  std::string email_of(std::int64_t mailbox);
  void emit(std::int64_t mailbox, const char* type, const std::string& item, std::int64_t cn,
            const std::string& folder, const std::string& old_item = {},
            const std::string& old_folder = {});
  std::string event_xml(const Event& e, bool with_watermark);
  bool matches(const Subscription& s, const Event& e) const;
  void deliver(const ItemData& message, const Ctx& ctx);
  Item save_new(ItemData data, const Folder& folder);

  Store& store_;
  const Schemas& schemas_;
  std::map<std::string, Subscription> subs_;
  std::function<void()> hook_;
  bool emitted_ = false;
  std::chrono::milliseconds minute_{60000};
};

}  // namespace ews_emulator
