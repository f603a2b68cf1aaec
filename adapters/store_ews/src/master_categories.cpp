#include "master_categories.hpp"

#include "crmsync/core/category_store.hpp"

namespace crmsync::ews {

Result<void> MasterCategories::ensure(const std::string& name) {
  return pace_.run(clock_.now(), [&](UtcTime now) { return add(name, now); });
}

Result<void> MasterCategories::add(const std::string& name, UtcTime now) {
  auto got = caller_.call("GetUserConfiguration", get_category_list(), true);
  if (!got) return got.error();
  const Message& m = got->front();
  std::string xml;
  const bool exists = m.ok();
  if (exists) {
    auto data = user_config_xml_of(m);
    if (!data) return data.error();
    xml = std::move(*data);
  } else if (m.code != "ErrorItemNotFound") {
    return error_of(m).context("the master category list");
  }
  auto added = add_to_category_list(xml, name, now, CrmId::generate().str());
  if (!added) return added.error();  // not a list we know: left alone
  if (!*added) return Ok();          // there already
  const char* op = exists ? "UpdateUserConfiguration" : "CreateUserConfiguration";
  auto put = caller_.call(
      op, exists ? update_category_list(**added) : create_category_list(**added), true);
  if (!put) return put.error();
  if (!put->front().ok()) return error_of(put->front()).context("the master category list");
  return Ok();
}

}  // namespace crmsync::ews
