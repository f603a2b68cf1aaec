// Entity metadata: the attributes the emulator knows, their types and the
// Dataverse maximum lengths, and the state/status pairs (NOTES.md §8).
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <random>

#include "fetchxml.hpp"
#include "model.hpp"

namespace crm_emulator {
namespace {

using T = AttrType;

void add(EntityMeta& e, std::initializer_list<std::pair<const char*, AttrMeta>> list) {
  for (const auto& [n, m] : list) e.attrs[n] = m;
}

void add_bookkeeping(EntityMeta& e) {
  add(e, {{"createdon", {T::DateTime, 0, true}},
          {"modifiedon", {T::DateTime, 0, true}},
          {"versionnumber", {T::Int, 0, true}},
          {"createdby", {T::Lookup, 0, true}},
          {"modifiedby", {T::Lookup, 0, true}},
          {"overriddencreatedon", {T::DateTime}},
          {"owningbusinessunit", {T::Lookup, 0, true}}});
  if (e.has_owner) add(e, {{"ownerid", {T::Lookup}}});
  if (!e.states.empty()) add(e, {{"statecode", {T::OptionSet}}, {"statuscode", {T::OptionSet}}});
  e.attrs[e.primary_id] = AttrMeta{T::Guid};
}

EntityMeta activity(const char* name, std::map<int, std::vector<int>> states) {
  EntityMeta e{name, "activityid", "subject", {}, std::move(states), true};
  add(e, {{"subject", {T::String, 200}},
          {"description", {T::Memo, 2000}},
          {"scheduledstart", {T::DateTime}},
          {"scheduledend", {T::DateTime}},
          {"scheduleddurationminutes", {T::Int}},
          {"actualstart", {T::DateTime}},
          {"actualend", {T::DateTime}},
          {"actualdurationminutes", {T::Int}},
          {"prioritycode", {T::OptionSet}},
          {"regardingobjectid", {T::Lookup}},
          {"category", {T::String, 250}},
          {"subcategory", {T::String, 250}},
          {"isbilled", {T::Bool}},
          {"isworkflowcreated", {T::Bool}},
          {"activitytypecode", {T::String, 0, true}},
          {"timezoneruleversionnumber", {T::Int}},
          {"utcconversiontimezonecode", {T::Int}}});
  return e;
}

std::map<std::string, EntityMeta> build() {
  std::map<std::string, EntityMeta> m;

  EntityMeta user{"systemuser", "systemuserid", "fullname", {}, {}, false};
  add(user, {{"fullname", {T::String, 200, true}},
             {"firstname", {T::String, 64}},
             {"lastname", {T::String, 64}},
             {"domainname", {T::String, 1024}},
             {"internalemailaddress", {T::String, 100}},
             {"businessunitid", {T::Lookup}},
             {"isdisabled", {T::Bool}}});
  add_bookkeeping(user);
  m[user.name] = user;

  EntityMeta priv{"privilege", "privilegeid", "name", {}, {}, false};
  add(priv, {{"name", {T::String, 100}}, {"accessright", {T::Int}}});
  add_bookkeeping(priv);
  m[priv.name] = priv;

  EntityMeta account{"account", "accountid", "name", {}, {{0, {1}}, {1, {2}}}, true};
  add(account, {{"name", {T::String, 160}},
                {"accountnumber", {T::String, 20}},
                {"telephone1", {T::String, 50}},
                {"emailaddress1", {T::String, 100}},
                {"websiteurl", {T::String, 200}},
                {"description", {T::Memo, 2000}},
                {"address1_city", {T::String, 80}},
                {"address1_country", {T::String, 80}},
                {"revenue", {T::Money}}});
  add_bookkeeping(account);
  m[account.name] = account;

  EntityMeta contact{"contact", "contactid", "fullname", {}, {{0, {1}}, {1, {2}}}, true};
  add(contact, {{"fullname", {T::String, 160, true}},
                {"firstname", {T::String, 50}},
                {"lastname", {T::String, 50}},
                {"middlename", {T::String, 50}},
                {"nickname", {T::String, 100}},
                {"salutation", {T::String, 100}},
                {"suffix", {T::String, 10}},
                {"jobtitle", {T::String, 100}},
                {"department", {T::String, 100}},
                {"assistantname", {T::String, 100}},
                {"assistantphone", {T::String, 50}},
                {"managername", {T::String, 100}},
                {"spousesname", {T::String, 100}},
                {"childrensnames", {T::String, 255}},
                {"governmentid", {T::String, 50}},
                {"ftpsiteurl", {T::String, 200}},
                {"websiteurl", {T::String, 200}},
                {"yomifirstname", {T::String, 150}},
                {"yomilastname", {T::String, 150}},
                {"emailaddress1", {T::String, 100}},
                {"emailaddress2", {T::String, 100}},
                {"emailaddress3", {T::String, 100}},
                {"telephone1", {T::String, 50}},
                {"telephone2", {T::String, 50}},
                {"telephone3", {T::String, 50}},
                {"mobilephone", {T::String, 50}},
                {"pager", {T::String, 50}},
                {"fax", {T::String, 50}},
                {"address1_line1", {T::String, 250}},
                {"address1_line2", {T::String, 250}},
                {"address1_line3", {T::String, 250}},
                {"address1_city", {T::String, 80}},
                {"address1_stateorprovince", {T::String, 50}},
                {"address1_postalcode", {T::String, 20}},
                {"address1_postofficebox", {T::String, 20}},
                {"address1_country", {T::String, 80}},
                {"description", {T::Memo, 2000}},
                {"birthdate", {T::DateTime}},
                {"anniversary", {T::DateTime}},
                {"parentcustomerid", {T::Lookup}},
                {"preferredcontactmethodcode", {T::OptionSet}},
                {"gendercode", {T::OptionSet}},
                {"donotemail", {T::Bool}}});
  add_bookkeeping(contact);
  m[contact.name] = contact;

  auto task = activity("task", {{0, {2, 3, 4, 7}}, {1, {5}}, {2, {6}}});
  add(task, {{"percentcomplete", {T::Int}}});
  add_bookkeeping(task);
  m[task.name] = task;

  auto appt = activity("appointment", {{0, {1, 2}}, {1, {3}}, {2, {4}}, {3, {5, 6}}});
  appt.attrs["description"].max_length = 1048576;
  add(appt, {{"location", {T::String, 200}},
             {"isalldayevent", {T::Bool}},
             {"organizer", {T::PartyList}},
             {"requiredattendees", {T::PartyList}},
             {"optionalattendees", {T::PartyList}},
             {"globalobjectid", {T::String, 300}},
             {"outlookownerapptid", {T::Int}},
             {"instancetypecode", {T::OptionSet}},
             {"seriesid", {T::Guid}}});
  add_bookkeeping(appt);
  m[appt.name] = appt;

  auto email = activity("email", {{0, {1, 8}}, {1, {2, 3, 4, 6, 7}}, {2, {5}}});
  email.attrs["description"].max_length = 1073741823;
  email.attrs["subject"].max_length = 400;
  add(email, {{"from", {T::PartyList}},
              {"to", {T::PartyList}},
              {"cc", {T::PartyList}},
              {"bcc", {T::PartyList}},
              {"sender", {T::String, 250}},
              {"torecipients", {T::String, 500}},
              {"directioncode", {T::Bool}},
              {"messageid", {T::String, 320}},
              {"mimetype", {T::String, 256}},
              {"trackingtoken", {T::String, 50}},
              {"submittedby", {T::String, 250}},
              {"readreceiptrequested", {T::Bool}},
              {"deliveryreceiptrequested", {T::Bool}},
              {"compressed", {T::Bool}},
              {"deliveryattempts", {T::Int}},
              {"notifications", {T::OptionSet}}});
  add_bookkeeping(email);
  m[email.name] = email;

  auto phone = activity("phonecall", {{0, {1}}, {1, {2, 4}}, {2, {3}}});
  add(phone, {{"phonenumber", {T::String, 200}},
              {"from", {T::PartyList}},
              {"to", {T::PartyList}},
              {"directioncode", {T::Bool}}});
  add_bookkeeping(phone);
  m[phone.name] = phone;

  auto letter = activity("letter", {{0, {1, 2}}, {1, {3, 4}}, {2, {5}}});
  add(letter, {{"address", {T::String, 200}},
               {"from", {T::PartyList}},
               {"to", {T::PartyList}},
               {"directioncode", {T::Bool}}});
  add_bookkeeping(letter);
  m[letter.name] = letter;

  auto fax = activity("fax", {{0, {1}}, {1, {2, 3, 4}}, {2, {5}}});
  add(fax, {{"faxnumber", {T::String, 200}},
            {"coverpagename", {T::String, 100}},
            {"numberofpages", {T::Int}},
            {"billingcode", {T::String, 50}},
            {"tsid", {T::String, 20}},
            {"from", {T::PartyList}},
            {"to", {T::PartyList}},
            {"directioncode", {T::Bool}}});
  add_bookkeeping(fax);
  m[fax.name] = fax;

  // activityparty only travels nested inside party lists; it is not stored on its own.
  EntityMeta party{"activityparty", "activitypartyid", "", {}, {}, false};
  add(party, {{"partyid", {T::Lookup}},
              {"addressused", {T::String, 320}},
              {"participationtypemask", {T::OptionSet}},
              {"activityid", {T::Lookup}}});
  party.attrs[party.primary_id] = AttrMeta{T::Guid};
  m[party.name] = party;
  add_query_entities(m);  // userquery, savedquery (fetchxml.cpp)
  return m;
}

const std::map<std::string, EntityMeta>& all() {
  static const auto m = build();
  return m;
}

}  // namespace

const EntityMeta* find_entity(std::string_view name) {
  auto it = all().find(std::string(name));
  return it == all().end() ? nullptr : &it->second;
}

const std::vector<std::string>& entity_names() {
  static const auto names = [] {
    std::vector<std::string> v;
    for (const auto& [n, _] : all()) v.push_back(n);
    return v;
  }();
  return names;
}

int participation_mask(std::string_view attr) {
  if (attr == "from") return 1;
  if (attr == "to") return 2;
  if (attr == "cc") return 3;
  if (attr == "bcc") return 4;
  if (attr == "requiredattendees") return 5;
  if (attr == "optionalattendees") return 6;
  if (attr == "organizer") return 7;
  return 0;
}

std::string new_guid() {
  static std::mt19937_64 rng{std::random_device{}()};
  std::uint64_t a = rng(), b = rng();
  a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 10
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", unsigned(a >> 32),
                unsigned((a >> 16) & 0xffff), unsigned(a & 0xffff), unsigned(b >> 48),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

std::string normalize_guid(std::string_view t) {
  while (!t.empty() && (t.front() == ' ' || t.front() == '\n' || t.front() == '\t'))
    t.remove_prefix(1);
  while (!t.empty() && (t.back() == ' ' || t.back() == '\n' || t.back() == '\t'))
    t.remove_suffix(1);
  if (t.size() == 38 && t.front() == '{' && t.back() == '}') t = t.substr(1, 36);
  if (t.size() != 36) return {};
  std::string out(t);
  for (std::size_t i = 0; i < out.size(); ++i) {
    char& c = out[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return {};
      continue;
    }
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return {};
  }
  return out;
}

namespace {
std::string format_time(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}
}  // namespace

std::string normalize_datetime(std::string_view s) {
  int y, mo, d, h = 0, mi = 0, se = 0;
  std::string str(s);
  while (!str.empty() && (str.back() == ' ' || str.back() == '\n')) str.pop_back();
  std::size_t p = str.find_first_not_of(" \n\t");
  if (p == std::string::npos) return {};
  str = str.substr(p);
  int n = 0;
  if (std::sscanf(str.c_str(), "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10) return {};
  std::size_t pos = 10;
  long offset = 0;
  if (pos < str.size() && (str[pos] == 'T' || str[pos] == ' ')) {
    int m2 = 0;
    if (std::sscanf(str.c_str() + pos + 1, "%2d:%2d:%2d%n", &h, &mi, &se, &m2) != 3 || m2 != 8)
      return {};
    pos += 9;
    if (pos < str.size() && str[pos] == '.') {
      ++pos;
      while (pos < str.size() && std::isdigit(static_cast<unsigned char>(str[pos]))) ++pos;
    }
    if (pos < str.size()) {
      if (str[pos] == 'Z') {
        ++pos;
      } else if (str[pos] == '+' || str[pos] == '-') {
        int oh, om, m3 = 0;
        if (std::sscanf(str.c_str() + pos + 1, "%2d:%2d%n", &oh, &om, &m3) != 2 || m3 != 5)
          return {};
        offset = (oh * 3600L + om * 60L) * (str[pos] == '+' ? 1 : -1);
        pos += 6;
      }
    }
  }
  if (pos != str.size()) return {};
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return {};
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = se;
  return format_time(timegm(&tm) - offset);
}

std::int64_t now_unix() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string now_iso() {
  return format_time(static_cast<std::time_t>(now_unix()));
}

std::string now_iso_fraction() {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(now).count();
  std::string base = format_time(static_cast<std::time_t>(us / 1000000));
  char frac[16];
  std::snprintf(frac, sizeof frac, ".%06lld0Z", static_cast<long long>(us % 1000000));
  return base.substr(0, base.size() - 1) + frac;
}

}  // namespace crm_emulator
