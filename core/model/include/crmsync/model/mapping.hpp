// SPEC §7 as data: one table per CRM entity of {store field, CRM attributes, converter}.
// Fields that no table names are never read or written by the engine (SPEC M4).
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crmsync/model/item.hpp"
#include "crmsync/model/timezone.hpp"

namespace crmsync {

enum class Direction {
  kBoth,
  kCrmToStore,      // the daemon's one-way fields (company name, reminder): never back
  kStoreToCrmOnce,  // copied when the record is created, then left alone (e-mail content, T4)
};

// How one store field and its CRM attributes convert. Each has a pair of
// functions in mapping.cpp; the tables below only name them.
enum class Converter {
  kText,            // string <-> string (trimmed on compare)
  kBool,            // bool <-> bool
  kInteger,         // int <-> int
  kTime,            // UtcTime <-> UtcTime
  kDate,            // Date <-> dateTime at 00:00Z (Birthday, Anniversary: never shifted)
  kLocalDate,       // Date in the user's zone <-> dateTime, keeping CRM's time of day
  kStreet,          // multi-line text <-> address1_line1..3 (4th line on joined into line3)
  kImportance,      // Low/Normal/High <-> prioritycode 0/1/2
  kTaskStatus,      // task Status <-> statecode + statuscode
  kActivityStatus,  // phone call/letter/fax Status <-> statecode (+ default statuscode)
  kShowTimeAs,      // appointment ShowTimeAs <-> statecode + statuscode
  kReference,       // EntityRef <-> EntityReference (Regarding)
  kParties,         // PartyList <-> activity party list
  kCompanyName,     // CompanyName <- parentcustomerid's name (CRM -> store only)
  kReminder,        // ReminderTime <- scheduledend (CRM -> store only)
};

struct FieldMapping {
  std::string_view store_field;
  std::vector<std::string_view> crm_attributes;  // in CRM order; most have one
  Converter converter;
  Direction direction = Direction::kBoth;
};

struct EntityMapping {
  CrmEntity entity;
  std::vector<FieldMapping> fields;

  // The CRM columns to request: every mapped attribute plus what the engine needs
  // (ownerid, modifiedon, statecode, statuscode, scheduledstart, parties).
  std::vector<std::string> crm_columns() const;
  // The activity-party columns R2's "the user is a party" test reads: the mapped ones
  // (appointments) and those of phone calls, letters and faxes (from, to), which the store
  // does not map but the filter needs. Empty for contacts, tasks and e-mails.
  std::vector<std::string> party_columns() const;
  const FieldMapping* find_store_field(std::string_view name) const;
};

const EntityMapping& mapping_for(CrmEntity entity);

// The store fields a kind knows (mapped ones plus the store-only ones the mock
// mailbox and the CLI accept); anything else is an unknown field.
std::span<const std::string_view> known_store_fields(ItemKind kind);
bool is_known_store_field(ItemKind kind, std::string_view field);
// Parses the CLI/text form of a store field's value ("High", "2025-03-01", "contact:GUID",
// "a@x.org;Bob <b@y.org>"); kInvalid with the field named when it does not fit.
Result<Value> parse_store_value(ItemKind kind, std::string_view field, std::string_view text);

struct MapContext {
  const TimeZone* zone = nullptr;    // required for kLocalDate
  bool update_company_field = true;  // SPEC G2
};

// CRM attributes -> store fields, for the fields that go CRM -> store. Absent attributes
// become absent fields (null). Unknown status codes and wrong types are kInvalid.
Result<FieldMap> crm_to_store(CrmEntity entity, const FieldMap& crm, const MapContext& ctx);

// Store fields -> CRM attributes, for the given fields only (the changed ones). `crm_current`
// is the record as CRM has it now (empty for a create): it keeps CRM's time of day for task
// dates and stops state changes of a record that is no longer open. Fields that go
// CRM -> store only are ignored.
Result<FieldMap> store_to_crm(CrmEntity entity, const FieldMap& store_changes,
                              const FieldMap& crm_current, const MapContext& ctx);

// Open (or Scheduled) vs Completed/Canceled, from a record's statecode (SPEC §5).
bool is_open_state(CrmEntity entity, const FieldMap& crm);

}  // namespace crmsync
