#include "hidden_items.hpp"

#include <cstdio>

#include "crmsync/core/hidden_text.hpp"
#include "errors.hpp"

namespace crmsync::mapi {
namespace {

// The hidden items' named properties (the EWS adapter's names).
constexpr Named kLeaseProps[] = {Named::kLeaseHolder, Named::kLeaseEpoch, Named::kLeaseExpires};
constexpr Named kQueueProps[] = {Named::kQueueClient, Named::kQueueKind,   Named::kQueueEntryId,
                                 Named::kQueueAction, Named::kQueueDelete, Named::kQueueAt,
                                 Named::kQueueSeq};

}  // namespace

Result<LeaseStore::Versioned> HiddenItems::read_lease() {
  CRMSYNC_TRY(session_.enter_thread());
  auto found = items(kLeaseClass, kLeaseProps);
  if (!found) return found.error();
  Versioned v;
  if (found->empty()) return v;
  const Hidden& h = found->front();
  v.version = to_hex(h.entry_id) + "|" + to_hex(h.change_key);
  auto record = parse_lease_text(
      {h.prop(Named::kLeaseHolder), h.prop(Named::kLeaseEpoch), h.prop(Named::kLeaseExpires)});
  if (!record) return record.error();
  v.record = std::move(*record);
  return v;
}

Result<std::string> HiddenItems::write_lease(const std::string& expected_version,
                                             const LeaseRecord& next) {
  CRMSYNC_TRY(session_.enter_thread());
  const LeaseText text = lease_text(next);
  std::vector<std::pair<Named, std::string>> props = {{Named::kLeaseHolder, text.holder},
                                                      {Named::kLeaseEpoch, text.epoch},
                                                      {Named::kLeaseExpires, text.expires}};
  if (expected_version.empty()) {
    auto existing = items(kLeaseClass, kLeaseProps);
    if (!existing) return existing.error();
    if (!existing->empty()) return Error::Conflict("a lease item exists already");
    auto made = create(kLeaseClass, props);
    if (!made) return made.error();
    // MAPI has no create-if-absent either: a creator wins only when, reading after its
    // create, it finds its item alone (as in the EWS adapter).
    auto all = items(kLeaseClass, kLeaseProps);
    if (!all) return all.error();
    if (all->size() != 1 || all->front().entry_id != made->first) {
      (void)erase(made->first);
      return Error::Conflict("another client created a lease item at the same time");
    }
    return to_hex(made->first) + "|" + to_hex(made->second);
  }
  auto bar = expected_version.find('|');
  if (bar == std::string::npos) return Error::Invalid("not a lease version: " + expected_version);
  auto id = entry_id_bytes(std::string_view(expected_version).substr(0, bar));
  if (!id) return Error::Invalid("not a lease version: " + id.error().message());
  auto msg = mailbox_.open_message(*id, true);
  if (!msg) {
    if (msg.error().is(ErrorKind::kNotFound)) return Error::Conflict("the lease item is gone");
    return msg.error();
  }
  auto ck = mailbox_.binary_prop(msg->get(), tag::kChangeKey);
  if (!ck) return ck.error();
  if (to_hex(*ck) != expected_version.substr(bar + 1))
    return Error::Conflict("the lease changed (change key)");
  CRMSYNC_TRY(mailbox_.write_strings(msg->get(), props));
  if (HRESULT h = (*msg)->SaveChanges(KEEP_OPEN_READWRITE); FAILED(h)) {
    Error e = error_of(h, "SaveChanges of the lease");
    if (e.is(ErrorKind::kNotFound)) return Error::Conflict("the lease item is gone");
    return e;
  }
  auto after = mailbox_.binary_prop(msg->get(), tag::kChangeKey);
  if (!after) return after.error();
  return to_hex(*id) + "|" + to_hex(*after);
}

Result<void> HiddenItems::enqueue(const QueuedChange& c) {
  CRMSYNC_TRY(session_.enter_thread());
  const std::int64_t seq = clock_.now().ms * 1000 + (queue_counter_++ % 1000);
  char seq_text[32];
  std::snprintf(seq_text, sizeof seq_text, "%020lld", static_cast<long long>(seq));
  const QueuedText t = queued_text(c);
  auto made = create(kQueueClass, {{Named::kQueueClient, t.client_id},
                                   {Named::kQueueKind, t.kind},
                                   {Named::kQueueEntryId, t.entry_id},
                                   {Named::kQueueAction, t.action},
                                   {Named::kQueueDelete, t.delete_in_crm},
                                   {Named::kQueueAt, t.at},
                                   {Named::kQueueSeq, seq_text}});
  if (!made) return made.error().context("queued change");
  return Ok();
}

Result<std::vector<QueuedChange>> HiddenItems::peek(std::size_t max) {
  CRMSYNC_TRY(session_.enter_thread());
  auto found = items(kQueueClass, kQueueProps);
  if (!found) return found.error();
  std::vector<QueuedChange> out;
  for (const Hidden& h : *found) {
    if (out.size() >= max) break;
    auto c = parse_queued_text(
        {h.prop(Named::kQueueClient), h.prop(Named::kQueueKind), h.prop(Named::kQueueEntryId),
         h.prop(Named::kQueueAction), h.prop(Named::kQueueDelete), h.prop(Named::kQueueAt)},
        to_hex(h.entry_id));
    if (!c) return c.error();
    out.push_back(std::move(*c));
  }
  return out;
}

Result<void> HiddenItems::remove(const std::string& id) {
  CRMSYNC_TRY(session_.enter_thread());
  auto bytes = entry_id_bytes(id);
  if (!bytes) return Error::NotFound("queue entry " + id.substr(0, 64));
  return erase(*bytes);
}

Result<std::int64_t> HiddenItems::depth() {
  CRMSYNC_TRY(session_.enter_thread());
  auto found = items(kQueueClass, {});
  if (!found) return found.error();
  return static_cast<std::int64_t>(found->size());
}

Result<std::vector<HiddenItems::Hidden>> HiddenItems::items(std::u16string_view cls,
                                                            std::span<const Named> props) {
  Com<IMAPITable> table;
  if (HRESULT h = mailbox_.root()->GetContentsTable(MAPI_ASSOCIATED | MAPI_UNICODE, table.out());
      FAILED(h))
    return error_of(h, "GetContentsTable of the hidden items");
  std::vector<ULONG> tags = {PR_ENTRYID, tag::kChangeKey};
  for (Named n : props) tags.push_back(mailbox_.tag_of(PropRef{n}));
  TagArray cols(tags);
  if (HRESULT h = table->SetColumns(cols.get(), TBL_BATCH); FAILED(h))
    return error_of(h, "SetColumns");
  std::u16string value(cls);
  SPropValue v{};
  v.ulPropTag = PR_MESSAGE_CLASS_W;
  v.Value.lpszW = reinterpret_cast<LPWSTR>(value.data());
  SRestriction r = property_restriction(RELOP_EQ, v);
  if (HRESULT h = table->Restrict(&r, TBL_BATCH); FAILED(h)) return error_of(h, "Restrict");
  // Oldest first; queue entries of one instant by their sequence property.
  SizedSSortOrderSet(2, order) = {
      2,
      0,
      0,
      {{PR_CREATION_TIME, TABLE_SORT_ASCEND},
       {mailbox_.tag_of(PropRef{Named::kQueueSeq}), TABLE_SORT_ASCEND}}};
  if (HRESULT h = table->SortTable(reinterpret_cast<LPSSortOrderSet>(&order), TBL_BATCH); FAILED(h))
    return error_of(h, "SortTable");
  std::vector<Hidden> out;
  for (;;) {
    Rows rows(mailbox_.api());
    if (HRESULT h = table->QueryRows(kBatch, 0, rows.out()); FAILED(h))
      return error_of(h, "QueryRows");
    if (rows.size() == 0) break;
    for (ULONG i = 0; i < rows.size(); ++i) {
      const SPropValue* p = rows[i].lpProps;
      if (PROP_TYPE(p[0].ulPropTag) != PT_BINARY) continue;
      Hidden hid;
      hid.entry_id = binary_of(p[0].Value.bin);
      if (PROP_TYPE(p[1].ulPropTag) == PT_BINARY) hid.change_key = binary_of(p[1].Value.bin);
      for (std::size_t k = 0; k < props.size(); ++k)
        if (PROP_TYPE(p[k + 2].ulPropTag) == PT_UNICODE)
          hid.props[props[k]] = to_utf8(u16(p[k + 2].Value.lpszW));
      out.push_back(std::move(hid));
    }
  }
  return out;
}

// A new associated message; its entry id and change key.
Result<std::pair<Binary, Binary>> HiddenItems::create(std::u16string_view cls,
                                                      const Strings& props) {
  Com<IMessage> msg;
  if (HRESULT h = mailbox_.root()->CreateMessage(nullptr, MAPI_ASSOCIATED, msg.out()); FAILED(h))
    return error_of(h, "CreateMessage of a hidden item");
  CRMSYNC_TRY(
      mailbox_.write_props(msg.get(), {{PropRef{tag::kMessageClass}, std::u16string(cls)}}));
  CRMSYNC_TRY(mailbox_.write_strings(msg.get(), props));
  if (HRESULT h = msg->SaveChanges(KEEP_OPEN_READWRITE); FAILED(h))
    return error_of(h, "SaveChanges of a hidden item");
  auto id = mailbox_.binary_prop(msg.get(), PR_ENTRYID);
  if (!id) return id.error();
  auto ck = mailbox_.binary_prop(msg.get(), tag::kChangeKey);
  if (!ck) return ck.error();
  return std::pair{*id, *ck};
}

Result<void> HiddenItems::erase(const Binary& id) {
  SBinary one = sbinary(id);
  ENTRYLIST list{1, &one};
  HRESULT h = mailbox_.root()->DeleteMessages(&list, 0, nullptr, kDeleteHardDelete);
  if (FAILED(h)) return error_of(h, "DeleteMessages of a hidden item");
  // MAPI_W_PARTIAL_COMPLETION (0x00040680): the entry was not there.
  if (h == 0x00040680) return Error::NotFound("hidden item " + to_hex(id).substr(0, 64));
  return Ok();
}

}  // namespace crmsync::mapi
