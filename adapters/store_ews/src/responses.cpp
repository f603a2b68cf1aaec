// EWS replies: the envelope and its response messages (faults and error codes mapped to
// crmsync's errors), and the payloads of each operation the adapter reads. Defensive: anything
// malformed is kInvalid naming the cause.
#include <cctype>
#include <charconv>

#include "wire.hpp"

namespace crmsync::ews {

using namespace detail;

namespace {

std::optional<int> backoff_in(const Element& message_xml) {
  for (const Element& v : message_xml.children()) {
    if (v.name() != "Value" || attr(v, "Name") != "BackOffMilliseconds") continue;
    int ms = 0;
    const std::string t = trimmed(v.text());
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), ms);
    if (ec == std::errc() && ms >= 0) return ms;
  }
  return std::nullopt;
}

}  // namespace

Error error_of_code(std::string_view code, std::string_view text, std::optional<int> backoff_ms) {
  std::string what = std::string(code) + (text.empty() ? "" : ": " + std::string(text));
  static constexpr std::string_view kTransient[] = {"ErrorServerBusy",
                                                    "ErrorExceededConnectionCount",
                                                    "ErrorTooManyObjectsOpened",
                                                    "ErrorTimeoutExpired",
                                                    "ErrorInternalServerTransientError",
                                                    "ErrorMailboxStoreUnavailable",
                                                    "ErrorConnectionFailed",
                                                    "ErrorInternalServerError",
                                                    "ErrorMailboxMoveInProgress",
                                                    "ErrorBatchProcessingStopped"};
  static constexpr std::string_view kPermission[] = {
      "ErrorAccessDenied",       "ErrorImpersonateUserDenied", "ErrorImpersonationDenied",
      "ErrorNonExistentMailbox", "ErrorInvalidLicense",        "ErrorMailboxConfiguration"};
  if (code == "ErrorItemNotFound") return Error::NotFound(what);
  if (code == "ErrorIrresolvableConflict" || code == "ErrorStaleObject" ||
      code == "ErrorChangeKeyRequiredForWriteOperations")
    return Error::Conflict(what);
  for (auto c : kTransient)
    if (code == c) return Error::Transient(what, backoff_ms);
  for (auto c : kPermission)
    if (code == c) return Error::Permission(what);
  return Error::Invalid(what);
}

Error error_of(const Message& m) {
  return error_of_code(m.code, m.text, m.backoff_ms);
}

Result<std::vector<Message>> parse_response(std::string_view op, int status,
                                            std::string_view body) {
  if (status == 401 || status == 403)
    return Error::Permission("EWS refused the credentials (HTTP " + std::to_string(status) + ")");
  const bool server_error = status >= 500;
  if (status == 429 || status == 503 || status == 502 || status == 504) {
    if (body.find("Fault") == std::string_view::npos)
      return Error::Transient("EWS HTTP " + std::to_string(status));
  }
  auto root = soap::parse_xml(body);
  if (!root) {
    if (server_error)
      return Error::Transient("EWS HTTP " + std::to_string(status) + " without SOAP");
    return Error::Invalid("EWS " + std::string(op) + " reply (HTTP " + std::to_string(status) +
                          "): " + root.error().message());
  }
  if (!root->is(soap::kSoapEnvNs, "Envelope")) {
    if (server_error)
      return Error::Transient("EWS HTTP " + std::to_string(status) + " without SOAP");
    return Error::Invalid("EWS " + std::string(op) + " reply: not a SOAP envelope");
  }
  const Element* sbody = root->child(soap::kSoapEnvNs, "Body");
  if (!sbody) return Error::Invalid("EWS " + std::string(op) + " reply: no SOAP Body");
  if (const Element* fault = sbody->child(soap::kSoapEnvNs, "Fault")) {
    std::string code, text;
    std::optional<int> backoff;
    if (const Element* fs = fault->child_any_ns("faultstring")) text = fs->text();
    if (const Element* detail = fault->child_any_ns("detail")) {
      if (const Element* rc = detail->child_any_ns("ResponseCode")) code = trimmed(rc->text());
      if (const Element* msg = detail->child_any_ns("Message"); msg && text.empty())
        text = trimmed(msg->text());
      if (const Element* mx = detail->child_any_ns("MessageXml")) backoff = backoff_in(*mx);
    }
    if (code.empty()) {
      if (const Element* fc = fault->child_any_ns("faultcode")) {
        code = trimmed(fc->text());
        if (auto colon = code.find(':'); colon != std::string::npos) code = code.substr(colon + 1);
      }
    }
    if (code.empty())
      return Error::Invalid("EWS " + std::string(op) + " fault without a code: " + text);
    Error e = error_of_code(code, text, backoff);
    if (e.is(ErrorKind::kInvalid) && server_error && code.rfind("Error", 0) != 0)
      return Error::Transient("EWS fault " + code + ": " + text);
    return e.context("EWS " + std::string(op));
  }
  if (status != 200)
    return Error::Transient("EWS " + std::string(op) + ": HTTP " + std::to_string(status));
  const Element* resp = sbody->child(kMNs, std::string(op) + "Response");
  if (!resp)
    return Error::Invalid("EWS " + std::string(op) + " reply: no " + std::string(op) + "Response");
  const Element* msgs = mchild(*resp, "ResponseMessages");
  if (!msgs) return Error::Invalid("EWS " + std::string(op) + " reply: no ResponseMessages");
  std::vector<Message> out;
  for (const Element& m : msgs->children()) {
    if (m.ns() != kMNs) continue;
    Message msg;
    msg.response_class = attr(m, "ResponseClass");
    if (msg.response_class != "Success" && msg.response_class != "Warning" &&
        msg.response_class != "Error")
      return Error::Invalid("EWS " + std::string(op) + " reply: bad ResponseClass '" +
                            msg.response_class + "'");
    if (const Element* rc = mchild(m, "ResponseCode")) msg.code = trimmed(rc->text());
    if (const Element* mt = mchild(m, "MessageText")) msg.text = mt->text();
    if (const Element* mx = mchild(m, "MessageXml")) msg.backoff_ms = backoff_in(*mx);
    if (msg.response_class == "Error" && msg.code.empty())
      return Error::Invalid("EWS " + std::string(op) + " reply: an error without a ResponseCode");
    msg.element = m;
    out.push_back(std::move(msg));
  }
  if (out.empty()) return Error::Invalid("EWS " + std::string(op) + " reply: no response message");
  return out;
}

Result<std::vector<RawItem>> items_of(const Element& container) {
  std::vector<RawItem> out;
  for (const Element& c : container.children()) {
    if (c.ns() != kTNs) continue;
    RawItem r;
    r.element = c.name();
    const Element* id = tchild(c, "ItemId");
    if (!id) return Error::Invalid("EWS item without an ItemId");
    r.ref.id = attr(*id, "Id");
    r.ref.change_key = attr(*id, "ChangeKey");
    if (r.ref.id.empty()) return Error::Invalid("EWS item with an empty Id");
    if (r.ref.id.size() > EntryId::kMaxLength)
      return Error::Invalid("EWS item id longer than " + std::to_string(EntryId::kMaxLength));
    if (const Element* p = tchild(c, "ParentFolderId")) r.parent_folder_id = attr(*p, "Id");
    if (const Element* ic = tchild(c, "ItemClass")) r.item_class = ic->text();
    r.xml = c;
    out.push_back(std::move(r));
  }
  return out;
}

Result<SyncPage> sync_page_of(const Message& m) {
  SyncPage page;
  const Element* state = mchild(m.element, "SyncState");
  const Element* last = mchild(m.element, "IncludesLastItemInRange");
  const Element* changes = mchild(m.element, "Changes");
  if (!state || !last) return Error::Invalid("SyncFolderItems reply without SyncState");
  page.sync_state = state->text();
  page.last = last->text() == "true" || last->text() == "1";
  if (!changes) return page;
  for (const Element& c : changes->children()) {
    SyncChange ch;
    if (c.is(kTNs, "Create"))
      ch.type = SyncChange::Type::kCreate;
    else if (c.is(kTNs, "Update"))
      ch.type = SyncChange::Type::kUpdate;
    else if (c.is(kTNs, "Delete"))
      ch.type = SyncChange::Type::kDelete;
    else if (c.is(kTNs, "ReadFlagChange"))
      ch.type = SyncChange::Type::kReadFlag;
    else
      return Error::Invalid("SyncFolderItems: unknown change " + c.name());
    if (ch.type == SyncChange::Type::kDelete || ch.type == SyncChange::Type::kReadFlag) {
      const Element* id = tchild(c, "ItemId");
      if (!id || attr(*id, "Id").empty())
        return Error::Invalid("SyncFolderItems: a change without ItemId");
      ch.item.ref.id = attr(*id, "Id");
      ch.item.ref.change_key = attr(*id, "ChangeKey");
    } else {
      auto items = items_of(c);
      if (!items) return items.error();
      if (items->size() != 1) return Error::Invalid("SyncFolderItems: a change without one item");
      ch.item = std::move(items->front());
    }
    page.changes.push_back(std::move(ch));
  }
  return page;
}

Result<FindPage> find_page_of(const Message& m) {
  const Element* root = mchild(m.element, "RootFolder");
  if (!root) return Error::Invalid("FindItem reply without RootFolder");
  FindPage page;
  std::string last = attr(*root, "IncludesLastItemInRange");
  page.last = last != "false" && last != "0";
  auto total = parse_tag(attr(*root, "TotalItemsInView"));
  page.total = total ? static_cast<int>(*total) : 0;
  if (const Element* items = tchild(*root, "Items")) {
    auto r = items_of(*items);
    if (!r) return r.error();
    page.items = std::move(*r);
  }
  return page;
}

Result<Subscription> subscription_of(const Message& m) {
  const Element* id = mchild(m.element, "SubscriptionId");
  const Element* wm = mchild(m.element, "Watermark");
  if (!id || id->text().empty()) return Error::Invalid("Subscribe reply without SubscriptionId");
  return Subscription{id->text(), wm ? wm->text() : std::string()};
}

Result<EventsPage> events_of(const Message& m) {
  const Element* n = m.element.child(kMNs, "Notification");
  if (!n) n = m.element.child(kTNs, "Notification");
  if (!n) return Error::Invalid("GetEvents reply without Notification");
  EventsPage page;
  if (const Element* more = tchild(*n, "MoreEvents")) page.more = more->text() == "true";
  if (const Element* prev = tchild(*n, "PreviousWatermark")) page.watermark = prev->text();
  for (const Element& e : n->children()) {
    const Element* wm = tchild(e, "Watermark");
    if (!wm) continue;
    page.watermark = wm->text();
    if (e.name() != "StatusEvent") ++page.changes;
  }
  return page;
}

Result<StreamBatch> streaming_events_of(const Message& m) {
  StreamBatch batch;
  if (const Element* status = mchild(m.element, "ConnectionStatus"))
    batch.status = trimmed(status->text());
  if (const Element* notifications = mchild(m.element, "Notifications")) {
    for (const Element& n : notifications->children()) {
      // Exchange sends m:Notification here; types.xsd says t:Notification. Both are read.
      if (n.name() != "Notification") continue;
      for (const Element& e : n.children())
        if (e.ns() == kTNs && e.name().size() > 5 &&
            e.name().compare(e.name().size() - 5, 5, "Event") == 0 && e.name() != "StatusEvent")
          ++batch.changes;
    }
  }
  if (m.ok() && batch.status.empty() && !mchild(m.element, "Notifications"))
    return Error::Invalid("GetStreamingEvents message without Notifications or ConnectionStatus");
  return batch;
}

std::optional<std::string> take_envelope(std::string& buffer) {
  // The end of the root element: "</", an optional prefix, "Envelope", optional space, ">".
  for (std::size_t at = buffer.find("Envelope"); at != std::string::npos;
       at = buffer.find("Envelope", at + 8)) {
    std::size_t open = buffer.rfind('<', at);
    if (open == std::string::npos || open + 1 >= buffer.size() || buffer[open + 1] != '/') continue;
    bool name_only = true;  // between "</" and "Envelope": a prefix and its colon, nothing else
    for (std::size_t i = open + 2; i < at; ++i) {
      char c = buffer[i];
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' ||
            (c == ':' && i + 1 == at)))
        name_only = false;
    }
    if (!name_only) continue;
    std::size_t close = at + 8;
    while (close < buffer.size() && (buffer[close] == ' ' || buffer[close] == '\t' ||
                                     buffer[close] == '\r' || buffer[close] == '\n'))
      ++close;
    if (close >= buffer.size()) return std::nullopt;  // the rest has not arrived yet
    if (buffer[close] != '>') continue;
    std::string envelope = buffer.substr(0, close + 1);
    buffer.erase(0, close + 1);
    return envelope;
  }
  return std::nullopt;
}

Result<std::string> folder_id_of(const Message& m) {
  const Element* folders = mchild(m.element, "Folders");
  if (!folders || folders->children().empty())
    return Error::Invalid("GetFolder reply without a folder");
  const Element* id = tchild(folders->children().front(), "FolderId");
  if (!id || attr(*id, "Id").empty()) return Error::Invalid("GetFolder reply without FolderId");
  return attr(*id, "Id");
}

}  // namespace crmsync::ews
