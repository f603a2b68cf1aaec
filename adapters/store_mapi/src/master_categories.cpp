#include "master_categories.hpp"

#include "crmsync/core/category_store.hpp"
#include "errors.hpp"

namespace crmsync::mapi {

Result<void> MasterCategories::ensure(const std::string& name) {
  return pace_.run(clock_.now(), [&](UtcTime now) { return add(name, now); });
}

Result<void> MasterCategories::add(const std::string& name, UtcTime now) {
  IMAPIFolder* calendar = mailbox_.folder(Folder::kCalendar);
  std::u16string cls(kCategoryListClass);
  SPropValue v{};
  v.ulPropTag = PR_MESSAGE_CLASS_W;
  v.Value.lpszW = reinterpret_cast<LPWSTR>(cls.data());
  SRestriction r = property_restriction(RELOP_EQ, v);
  auto ids = mailbox_.entry_ids(calendar, MAPI_ASSOCIATED, &r);
  if (!ids) return ids.error().context("the master category list");
  Com<IMessage> msg;
  std::string xml;
  if (!ids->empty()) {  // the newest, should Outlook have left more than one
    auto open = mailbox_.open_message(ids->front(), true);
    if (!open) return open.error();
    msg = std::move(*open);
    auto data = mailbox_.read_binary(msg.get(), tag::kRoamingXmlStream);
    if (!data) return data.error();
    xml = std::move(*data);
  }
  auto added = add_to_category_list(xml, name, now, CrmId::generate().str());
  if (!added) return added.error();  // not a list we know: left alone
  if (!*added) return Ok();          // there already
  if (!msg) {
    if (HRESULT h = calendar->CreateMessage(nullptr, MAPI_ASSOCIATED, msg.out()); FAILED(h))
      return error_of(h, "CreateMessage of the master category list");
    CRMSYNC_TRY(mailbox_.write_props(
        msg.get(), {{PropRef{tag::kMessageClass}, std::u16string(kCategoryListClass)},
                    {PropRef{tag::kRoamingDatatypes}, kRoamingXmlStreamFlag}}));
  }
  CRMSYNC_TRY(mailbox_.write_binary(msg.get(), tag::kRoamingXmlStream, **added));
  if (HRESULT h = msg->SaveChanges(KEEP_OPEN_READWRITE); FAILED(h))
    return error_of(h, "SaveChanges of the master category list");
  return Ok();
}

}  // namespace crmsync::mapi
