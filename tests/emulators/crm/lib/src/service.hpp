// The Organization Service: SOAP envelope in, SOAP envelope out.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "model.hpp"
#include "store.hpp"

namespace crm_emulator {

// A test hook (POST /admin/hooks): on the next Update of the record `entity`/`id`, from
// anyone, `attributes` are first written as the user `caller` (a systemuserid; empty: the
// updating caller) and committed on their own, so that the record's version moves between
// a client's read and its write. Fires once.
struct UpdateHook {
  std::string entity;
  std::string id;
  std::string caller;
  Attributes attributes;
};

class Service {
 public:
  explicit Service(Store& store);

  // Handle one SOAP request of the caller; returns the response envelope.
  // Throws Fault for every error the real server answers with a fault.
  std::string handle(std::string_view soap_action, const std::string& body, const User& caller);
  static std::string fault_envelope(const Fault& fault);

  // Organization bookkeeping.
  void ensure_org();  // ids, privileges; idempotent
  // internalemailaddress: the user's primary e-mail address ("" = none), by which CRM
  // resolves e-mail parties to the user.
  std::string add_user(const std::string& fullname, const std::string& token,
                       const std::string& internalemailaddress = "");
  bool set_sync_privilege(const std::string& user_id, bool granted);
  // A user with sign-in identities (caller.cpp): an opaque token, an Entra oid/upn (JWTs from
  // --authority), an application user's client id, or an NTLM account; default_filters makes
  // the user's Outlook filters from the organization's templates (SPEC U4).
  struct NewUser {
    std::string fullname;
    std::string token;  // "" = none (a random one nobody knows is stored)
    std::string internalemailaddress;
    std::string upn, oid;
    bool application = false;
    std::string client_id;
    std::string auth = "bearer";  // or "negotiate": NTLM only
    std::string ntlm_user, password;
    bool default_filters = true;
  };
  std::string add_user(const NewUser& user);
  bool set_act_on_behalf(const std::string& user_id, bool granted);
  // The user's default Outlook filters, in a transaction of their own; their ids.
  std::vector<std::string> transact_default_filters(const std::string& user_id);
  void reset();  // also drops waiting hooks
  // Replaces the waiting update hooks (empty: none).
  void set_update_hooks(std::vector<UpdateHook> hooks) { hooks_ = std::move(hooks); }
  // Demo organization; returns the demo user.
  User seed_demo(const std::string& token);

  std::string organization_id() { return store_.meta("organizationid"); }
  std::string business_unit_id() { return store_.meta("businessunitid"); }

 private:
  Store& store_;
  std::vector<UpdateHook> hooks_;
};

}  // namespace crm_emulator
