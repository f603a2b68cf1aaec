// The CRM seam: Dynamics CRM's Organization Service as the engine sees it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "crmsync/model/item.hpp"

namespace crmsync {

// One CRM record: entity, id, attributes by logical name (the CRM side of SPEC §7 plus
// ownerid, statecode, statuscode, modifiedon, and parties as PartyList values).
struct CrmRecord {
  CrmEntity entity = CrmEntity::kContact;
  CrmId id;
  FieldMap attributes;
  UtcTime modified_on;
  std::optional<CrmId> owner;  // ownerid's id
  // The record's version as read (Entity.RowVersion, Dynamics CRM 2015 Update 1 and later):
  // an update made with it is applied only while the record is still that version (U6).
  // Empty when the server sends none.
  std::string row_version;
};

struct CrmIdentity {
  CrmId user_id;
  CrmId business_unit_id;
  CrmId organization_id;
};

struct CrmPrivileges {
  bool sync_to_outlook = false;  // prvSyncToOutlook (SPEC G5)
};

// One page of RetrieveEntityChanges for one entity.
struct CrmChangePage {
  std::vector<CrmRecord> new_or_updated;
  std::vector<CrmId> removed;
  bool more = false;          // another page follows; pass `paging_cookie` back
  std::string paging_cookie;  // opaque
  int page_number = 1;
  std::string data_version;  // the token to store once every page was applied
};

// One page of a RetrieveMultiple query.
struct CrmRecordPage {
  std::vector<CrmRecord> records;
  bool more = false;
  std::string paging_cookie;  // opaque; pass back with the next page number
  int page_number = 1;
};

// One of the user's Outlook synchronization filters (SPEC U4): which records of an entity
// the user syncs, as the FetchXML the CRM keeps for them.
struct SyncFilter {
  CrmEntity entity = CrmEntity::kContact;
  std::string name;
  std::string fetchxml;
};

// A CRM record an e-mail address belongs to: a system user by internalemailaddress or a
// contact by emailaddress1, 2 or 3 (the parties of a tracked e-mail, SPEC §7 and U7).
struct EmailParty {
  std::string address;  // the address as asked, lower-cased
  EntityRef record;     // logical name "systemuser" or "contact", id, and name when known
};

// One request of a batch (ExecuteMultiple) and its outcome.
struct CrmOperation {
  enum class Type { kCreate, kUpdate, kDelete, kSetState };
  Type type = Type::kUpdate;
  CrmEntity entity = CrmEntity::kContact;
  CrmId id;
  FieldMap attributes;  // create/update
  int state = 0;        // set state
  int status = -1;
  std::string row_version;  // update: as CrmAdapter::update
};

// Contract for every CRM adapter. Synchronous, one thread at a time (the sync worker; an
// adapter may be built on one thread and used on another, never on two at once); each call is
// bounded by the adapter's deadlines and retries transient failures itself (honouring Retry-After)
// up to its budget, then returns kTransient. Errors: kNotFound (no such record),
// kConflict (duplicate id on create; on update: the record is no longer the row version the
// update was made against), kInvalid (the server rejected the data, e.g. a value too long:
// the message says which), kPermission (auth or privilege), kTransient. Results are values the
// caller owns; the adapter keeps no reference to arguments after a call returns.
class CrmAdapter {
 public:
  CrmAdapter() = default;
  CrmAdapter(const CrmAdapter&) = delete;
  CrmAdapter& operator=(const CrmAdapter&) = delete;
  virtual ~CrmAdapter() = default;

  // The user the adapter acts as (WhoAmI). kPermission when the sign-in is refused.
  virtual Result<CrmIdentity> who_am_i() = 0;
  // That user's sync privileges (SPEC G5). kPermission, kTransient.
  virtual Result<CrmPrivileges> privileges(const CrmId& user) = 0;

  // Changes of `entity` since `data_version` ("" = everything: the initial sync, which lists
  // the records that exist and no removal, as RetrieveEntityChanges does), one page at a
  // time: page 1 with an empty cookie, then the returned cookie while `more`. kConflict when
  // the server no longer knows the token (the caller starts again from ""), kTransient.
  virtual Result<CrmChangePage> changes_since(CrmEntity entity, const std::string& data_version,
                                              int page_number,
                                              const std::string& paging_cookie) = 0;
  // Capability (STYLE.md 5): whether changes_since works for `entity`. Change tracking is
  // a per-entity switch on Dynamics 2016 and later; without it the engine falls back to
  // modified_since and the id sweep (SPEC R3). An adapter may learn it from the server.
  virtual bool supports_change_tracking(CrmEntity entity) = 0;
  // Records of `entity` with modifiedon >= `since`, oldest first, one page at a time (R3).
  virtual Result<CrmRecordPage> modified_since(CrmEntity entity, UtcTime since, int page_number,
                                               const std::string& paging_cookie) = 0;
  // Every record of `entity` with only its id, owner and parties: the sweep that finds
  // deletions and records that left the filter where change tracking is off (R3).
  virtual Result<CrmRecordPage> sweep_ids(CrmEntity entity, int page_number,
                                          const std::string& paging_cookie) = 0;
  // The record with the given columns (empty = the mapping's columns), or kNotFound.
  virtual Result<CrmRecord> retrieve(CrmEntity entity, const CrmId& id) = 0;

  // U4: the user's active Outlook synchronization filters (userquery, query type
  // OutlookFilters 256), or, when the user has none, the organization's active templates
  // (savedquery, OutlookTemplate 131072); only entities crmsync syncs. Empty when the CRM has
  // none: the engine then keeps R2's fixed test. The default: none.
  virtual Result<std::vector<SyncFilter>> sync_filters() { return std::vector<SyncFilter>{}; }
  // U4: one page of the records `filter` selects, in the primary key's order: with the
  // columns crmsync maps, or their ids alone (`ids_only`, for the sweep); with
  // `modified_since`, only those modified since. kInvalid for a filter the CRM (or this
  // adapter) cannot run. The default: kInvalid.
  virtual Result<CrmRecordPage> filtered(const SyncFilter& filter,
                                         std::optional<UtcTime> modified_since, bool ids_only,
                                         int page_number, const std::string& paging_cookie) {
    (void)filter, (void)modified_since, (void)ids_only, (void)page_number, (void)paging_cookie;
    return Error::Invalid("this CRM adapter runs no Outlook filters");
  }
  // U2 (set regarding, picked by name): records of `entity` (a logical name: account, contact,
  // lead, opportunity, incident, ...) whose primary name contains `text`, compared as CRM
  // compares text (case-insensitively), at most `max`, ordered by name; each an EntityRef with
  // its name. kInvalid for an entity the adapter cannot search. The default: kInvalid.
  virtual Result<std::vector<EntityRef>> find_by_name(const std::string& entity,
                                                      const std::string& text, std::size_t max) {
    (void)text, (void)max;
    return Error::Invalid("this CRM adapter cannot search " + entity + " records by name");
  }
  // Creates a record with a client-chosen id (SPEC X1). kConflict if the id exists.
  // statecode/statuscode among the attributes are applied after the create, as CRM wants
  // (SetState): a tracked e-mail is created open, then completed as received or sent (U7).
  virtual Result<void> create(CrmEntity entity, const CrmId& id, const FieldMap& attributes) = 0;
  // Sets only the given attributes (null clears), only if the record is still at
  // `row_version` (the CrmRecord::row_version it was read with; SPEC U6): otherwise nothing is
  // written and the result is kConflict (CRM moved: read it again and merge again). An empty
  // row_version writes whatever the version (a server that sends none).
  virtual Result<void> update(CrmEntity entity, const CrmId& id, const FieldMap& attributes,
                              const std::string& row_version) = 0;
  // Deletes the record; kNotFound when it is already gone (callers treat that as done).
  virtual Result<void> remove(CrmEntity entity, const CrmId& id) = 0;
  // SetState: statecode and statuscode (-1: the state's default reason). kNotFound, kInvalid
  // (a transition the entity refuses), kPermission, kTransient.
  virtual Result<void> set_state(CrmEntity entity, const CrmId& id, int state, int status) = 0;
  // Contacts whose emailaddress1, 2 or 3 equals one of `addresses`, compared as CRM compares
  // text (case-insensitively): the E2 lookup of a whole page of new contacts in a few requests.
  virtual Result<std::vector<CrmRecord>> find_contacts_by_emails(
      const std::vector<std::string>& addresses) = 0;
  // The system users (internalemailaddress) and contacts (emailaddress1, 2, 3) whose address
  // equals one of `addresses`, compared case-insensitively: one entry per address and record,
  // users and contacts alike (choosing among several is the caller's business). A few
  // requests for any number of addresses: the party lookup of a page of tracked e-mails.
  virtual Result<std::vector<EmailParty>> find_parties_by_emails(
      const std::vector<std::string>& addresses) = 0;
  // Runs the operations in order (ExecuteMultiple, ContinueOnError); one result each.
  // The outer Result fails only when the batch as a whole could not be sent.
  virtual Result<std::vector<Result<void>>> execute_batch(
      const std::vector<CrmOperation>& operations) = 0;
};

}  // namespace crmsync
