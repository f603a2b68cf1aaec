// Execute envelopes of the CRM Organization service (SOAP 1.1), written independently of the
// adapter's codec: what tests send as "someone else in CRM" to crm-emulator.
#pragma once

#include <string>

namespace crmsync::test::crm {

inline const char* const kContractsNs =
    "xmlns:a=\"http://schemas.microsoft.com/xrm/2011/Contracts\"";
inline const char* const kCollectionsNs =
    "xmlns:b=\"http://schemas.datacontract.org/2004/07/System.Collections.Generic\"";
inline const char* const kExecuteAction =
    "http://schemas.microsoft.com/xrm/2011/Contracts/Services/IOrganizationService/Execute";
inline const char* const kOrganizationPath = "/XRMServices/2011/Organization.svc/web";

inline std::string kv(const std::string& key, const std::string& value_xml) {
  return "<a:KeyValuePairOfstringanyType><b:key>" + key + "</b:key>" + value_xml +
         "</a:KeyValuePairOfstringanyType>";
}
inline std::string str_attr(const std::string& k, const std::string& v) {
  return kv(k, "<b:value i:type=\"d:string\" xmlns:d=\"http://www.w3.org/2001/XMLSchema\">" + v +
                   "</b:value>");
}
inline std::string time_attr(const std::string& k, const std::string& iso_utc) {
  return kv(k, "<b:value i:type=\"d:dateTime\" xmlns:d=\"http://www.w3.org/2001/XMLSchema\">" +
                   iso_utc + "</b:value>");
}
inline std::string ref(const std::string& logical, const std::string& id) {
  return "<a:Id>" + id + "</a:Id><a:LogicalName>" + logical +
         "</a:LogicalName><a:Name i:nil=\"true\"/>";
}
inline std::string ref_attr(const std::string& k, const std::string& logical,
                            const std::string& id) {
  return kv(k, "<b:value i:type=\"a:EntityReference\">" + ref(logical, id) + "</b:value>");
}
inline std::string entity(const std::string& logical, const std::string& id,
                          const std::string& attrs) {
  return "<a:Attributes>" + attrs + "</a:Attributes><a:EntityState i:nil=\"true\"/>" +
         "<a:FormattedValues/><a:Id>" + id + "</a:Id><a:LogicalName>" + logical +
         "</a:LogicalName><a:RelatedEntities/>";
}
inline std::string org_request(const std::string& type, const std::string& name,
                               const std::string& params) {
  return "<request i:type=\"a:" + type + "\" " + kContractsNs + "><a:Parameters " + kCollectionsNs +
         ">" + params + "</a:Parameters><a:RequestId i:nil=\"true\"/><a:RequestName>" + name +
         "</a:RequestName></request>";
}
inline std::string target_entity(const std::string& logical, const std::string& id,
                                 const std::string& attrs) {
  return kv("Target", "<b:value i:type=\"a:Entity\">" + entity(logical, id, attrs) + "</b:value>");
}
inline std::string execute_envelope(const std::string& request_xml) {
  return "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><Execute "
         "xmlns=\"http://schemas.microsoft.com/xrm/2011/Contracts/Services\" "
         "xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\">" +
         request_xml + "</Execute></s:Body></s:Envelope>";
}

// Whole envelopes for the usual edits.
inline std::string update_envelope(const std::string& logical, const std::string& id,
                                   const std::string& attrs) {
  return execute_envelope(
      org_request("UpdateRequest", "Update", target_entity(logical, id, attrs)));
}
inline std::string delete_envelope(const std::string& logical, const std::string& id) {
  return execute_envelope(org_request(
      "DeleteRequest", "Delete",
      kv("Target", "<b:value i:type=\"a:EntityReference\">" + ref(logical, id) + "</b:value>")));
}

}  // namespace crmsync::test::crm
