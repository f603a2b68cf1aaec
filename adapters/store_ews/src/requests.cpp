// EWS requests other than an item's fields: reads, look-ups, deletes, folders, the sync of a
// folder and the subscriptions. Each returns the operation element (wrap with envelope()).
#include <algorithm>

#include "crmsync/model/encoding.hpp"
#include "item_fields.hpp"

namespace crmsync::ews {

using namespace detail;

std::string get_items(const std::vector<std::string>& ids, bool full) {
  std::string out = "<m:GetItem><m:ItemShape>";
  if (full) {
    out +=
        "<t:BaseShape>AllProperties</t:BaseShape><t:BodyType>Text</t:BodyType>"
        "<t:AdditionalProperties><t:FieldURI FieldURI=\"item:ParentFolderId\"/>"
        "<t:FieldURI FieldURI=\"item:LastModifiedTime\"/>" +
        all_ext_uris() + "</t:AdditionalProperties>";
  } else {
    out +=
        "<t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>"
        "<t:FieldURI FieldURI=\"item:ParentFolderId\"/><t:FieldURI FieldURI=\"item:ItemClass\"/>" +
        category_mark_uris() + "</t:AdditionalProperties>";
  }
  out += "</m:ItemShape><m:ItemIds>";
  for (const auto& id : ids) {
    XmlWriter w;
    w.open("t:ItemId").attr("Id", id).close();
    out += w.take();
  }
  return out + "</m:ItemIds></m:GetItem>";
}

std::string delete_item(const std::string& id, ItemKind kind, bool hard) {
  std::string attrs = hard ? " DeleteType=\"HardDelete\"" : " DeleteType=\"MoveToDeletedItems\"";
  if (kind == ItemKind::kAppointment) attrs += " SendMeetingCancellations=\"SendToNone\"";
  if (kind == ItemKind::kTask) attrs += " AffectedTaskOccurrences=\"AllOccurrences\"";
  XmlWriter w;
  w.open("t:ItemId").attr("Id", id).close();
  return "<m:DeleteItem" + attrs + "><m:ItemIds>" + w.take() + "</m:ItemIds></m:DeleteItem>";
}

std::string get_folders(const std::vector<std::string_view>& distinguished) {
  std::string out =
      "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds>";
  for (auto d : distinguished) out += "<t:DistinguishedFolderId Id=\"" + std::string(d) + "\"/>";
  return out + "</m:FolderIds></m:GetFolder>";
}

std::string find_modified(Folder folder, UtcTime since, int offset, int max, bool headers) {
  return "<m:FindItem Traversal=\"Shallow\"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>"
         "<t:AdditionalProperties><t:FieldURI FieldURI=\"item:LastModifiedTime\"/>" +
         (headers ? "<t:FieldURI FieldURI=\"item:ItemClass\"/>" + ext_uri_xml(kTracked) : "") +
         "</t:AdditionalProperties></m:ItemShape>"
         "<m:IndexedPageItemView MaxEntriesReturned=\"" +
         std::to_string(max) + "\" Offset=\"" + std::to_string(offset) +
         "\" BasePoint=\"Beginning\"/>"
         "<m:Restriction><t:IsGreaterThanOrEqualTo><t:FieldURI FieldURI=\"item:LastModifiedTime\"/>"
         "<t:FieldURIOrConstant><t:Constant Value=\"" +
         UtcTime::from_seconds(since.ms >= 0 ? since.ms / 1000 : (since.ms - 999) / 1000).iso() +
         "\"/></t:FieldURIOrConstant></t:IsGreaterThanOrEqualTo></m:Restriction>"
         "<m:SortOrder><t:FieldOrder Order=\"Descending\"><t:FieldURI "
         "FieldURI=\"item:LastModifiedTime\"/></t:FieldOrder></m:SortOrder>"
         "<m:ParentFolderIds>" +
         folder_id_xml(folder) + "</m:ParentFolderIds></m:FindItem>";
}

std::string find_by_crm_ids(const std::vector<Folder>& folders,
                            const std::vector<std::string>& crm_ids) {
  std::string out =
      "<m:FindItem Traversal=\"Shallow\"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>"
      "<t:AdditionalProperties>" +
      ext_uri_xml(kCrmId) + "</t:AdditionalProperties></m:ItemShape><m:Restriction>";
  if (crm_ids.size() > 1) out += "<t:Or>";
  for (const auto& id : crm_ids) {
    XmlWriter c;
    c.open("t:Constant").attr("Value", id).close();
    out += "<t:IsEqualTo>" + ext_uri_xml(kCrmId) + "<t:FieldURIOrConstant>" + c.take() +
           "</t:FieldURIOrConstant></t:IsEqualTo>";
  }
  if (crm_ids.size() > 1) out += "</t:Or>";
  out += "</m:Restriction><m:ParentFolderIds>";
  for (Folder f : folders) out += folder_id_xml(f);
  return out + "</m:ParentFolderIds></m:FindItem>";
}

std::string sync_folder_items(Folder folder, const std::string& sync_state, int max) {
  std::string out =
      "<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>" +
      category_mark_uris() + "</t:AdditionalProperties></m:ItemShape><m:SyncFolderId>" +
      folder_id_xml(folder) + "</m:SyncFolderId>";
  if (!sync_state.empty()) out += "<m:SyncState>" + xml_escape(sync_state) + "</m:SyncState>";
  return out + "<m:MaxChangesReturned>" + std::to_string(std::clamp(max, 1, 512)) +
         "</m:MaxChangesReturned><m:SyncScope>NormalItems</m:SyncScope></m:SyncFolderItems>";
}

namespace {
// The synced folders and the item event types, as both subscription kinds take them.
std::string subscription_scope() {
  std::string out = "<t:FolderIds>";
  for (Folder f : kAllFolders) out += folder_id_xml(f);
  out += "</t:FolderIds><t:EventTypes>";
  for (const char* e :
       {"CopiedEvent", "CreatedEvent", "DeletedEvent", "ModifiedEvent", "MovedEvent"})
    out += std::string("<t:EventType>") + e + "</t:EventType>";
  return out + "</t:EventTypes>";
}
}  // namespace

std::string subscribe_pull(int timeout_minutes) {
  return "<m:Subscribe><m:PullSubscriptionRequest>" + subscription_scope() + "<t:Timeout>" +
         std::to_string(std::clamp(timeout_minutes, 1, 1440)) +
         "</t:Timeout></m:PullSubscriptionRequest></m:Subscribe>";
}

std::string subscribe_streaming() {
  return "<m:Subscribe><m:StreamingSubscriptionRequest>" + subscription_scope() +
         "</m:StreamingSubscriptionRequest></m:Subscribe>";
}

std::string get_streaming_events(const std::string& subscription_id, int connection_minutes) {
  return "<m:GetStreamingEvents><m:SubscriptionIds><t:SubscriptionId>" +
         xml_escape(subscription_id) + "</t:SubscriptionId></m:SubscriptionIds>" +
         "<m:ConnectionTimeout>" + std::to_string(std::clamp(connection_minutes, 1, 30)) +
         "</m:ConnectionTimeout></m:GetStreamingEvents>";
}

std::string get_events(const std::string& subscription_id, const std::string& watermark) {
  return "<m:GetEvents><m:SubscriptionId>" + xml_escape(subscription_id) +
         "</m:SubscriptionId><m:Watermark>" + xml_escape(watermark) +
         "</m:Watermark></m:GetEvents>";
}
}  // namespace crmsync::ews
