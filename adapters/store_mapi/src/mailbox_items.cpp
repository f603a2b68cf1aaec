// The default store's messages: properties and recipients written, the store item read back
// through the field codec, contents tables listed.
#include <cstring>

#include "errors.hpp"
#include "mailbox.hpp"

namespace crmsync::mapi {

Result<void> Mailbox::write_props(IMessage* m, const std::vector<PropWrite>& writes) {
  PropArray set;
  std::vector<ULONG> gone;
  for (const PropWrite& w : writes) {
    if (std::holds_alternative<std::monostate>(w.value))
      gone.push_back(tag_of(w.ref));
    else
      set.add(tag_of(w.ref), w.value);
  }
  if (set.size() > 0) {
    MapiBuffer<SPropProblemArray> problems(api());
    if (HRESULT h = m->SetProps(set.size(), set.data(), problems.out()); FAILED(h))
      return error_of(h, "SetProps");
    if (problems.get() && problems->cProblem > 0)
      return error_of(static_cast<ULONG>(problems->aProblem[0].scode),
                      "SetProps of " + PropRef{problems->aProblem[0].ulPropTag}.label());
  }
  if (!gone.empty()) {
    TagArray tags(gone);
    MapiBuffer<SPropProblemArray> problems(api());
    if (HRESULT h = m->DeleteProps(tags.get(), problems.out()); FAILED(h))
      return error_of(h, "DeleteProps");
  }
  return Ok();
}

Result<void> Mailbox::write_strings(IMessage* m,
                                    const std::vector<std::pair<Named, std::string>>& props) {
  std::vector<PropWrite> writes;
  for (const auto& [n, text] : props) {
    auto w = to_utf16(text);
    if (!w) return w.error().context(named(n).label);
    writes.push_back({PropRef{n}, std::move(*w)});
  }
  return write_props(m, writes);
}

Result<std::vector<Recipient>> Mailbox::read_recipients(IMessage* m) {
  Com<IMAPITable> table;
  if (HRESULT h = m->GetRecipientTable(MAPI_UNICODE, table.out()); FAILED(h))
    return error_of(h, "GetRecipientTable");
  TagArray cols(
      {PR_RECIPIENT_TYPE, PR_DISPLAY_NAME_W, tag::kSmtpAddress, PR_EMAIL_ADDRESS_W, PR_ADDRTYPE_W});
  if (HRESULT h = table->SetColumns(cols.get(), 0); FAILED(h)) return error_of(h, "SetColumns");
  std::vector<Recipient> out;
  for (;;) {
    Rows rows(api());
    if (HRESULT h = table->QueryRows(kBatch, 0, rows.out()); FAILED(h))
      return error_of(h, "QueryRows of the recipients");
    if (rows.size() == 0) break;
    for (ULONG i = 0; i < rows.size(); ++i) {
      const SPropValue* p = rows[i].lpProps;
      Recipient r;
      r.type = PROP_TYPE(p[0].ulPropTag) == PT_LONG ? p[0].Value.l : 0;
      if (PROP_TYPE(p[1].ulPropTag) == PT_UNICODE) r.name = u16(p[1].Value.lpszW);
      if (PROP_TYPE(p[2].ulPropTag) == PT_UNICODE) r.address = u16(p[2].Value.lpszW);
      if (r.address.empty() && PROP_TYPE(p[3].ulPropTag) == PT_UNICODE &&
          PROP_TYPE(p[4].ulPropTag) == PT_UNICODE && u16(p[4].Value.lpszW) == u"SMTP")
        r.address = u16(p[3].Value.lpszW);
      if (!r.address.empty()) out.push_back(std::move(r));
    }
  }
  return out;
}

// Replaces the recipients of the given types; the others stay (ModifyRecipients(0) takes
// the whole new list). The list is MAPI memory: providers may keep or free its rows.
Result<void> Mailbox::write_recipients(
    IMessage* m, const std::map<std::int32_t, std::vector<Recipient>>& change) {
  auto current = read_recipients(m);
  if (!current) return current.error();
  std::vector<Recipient> all;
  for (const Recipient& r : *current)
    if (!change.count(r.type)) all.push_back(r);
  for (const auto& [type, rows] : change) all.insert(all.end(), rows.begin(), rows.end());
  const ULONG n = static_cast<ULONG>(all.size());
  LPADRLIST list = nullptr;
  if (FAILED(api().allocate_buffer(CbNewADRLIST(n == 0 ? 1 : n), reinterpret_cast<void**>(&list))))
    return Error::Transient("out of MAPI memory");
  list->cEntries = 0;
  auto free_list = [&] {
    for (ULONG i = 0; i < list->cEntries; ++i) api().free_buffer(list->aEntries[i].rgPropVals);
    api().free_buffer(list);
  };
  for (const Recipient& r : all) {
    constexpr ULONG kProps = 5;
    SPropValue* props = nullptr;
    if (FAILED(
            api().allocate_buffer(sizeof(SPropValue) * kProps, reinterpret_cast<void**>(&props)))) {
      free_list();
      return Error::Transient("out of MAPI memory");
    }
    auto copy = [&](const std::u16string& s) -> LPWSTR {
      void* p = nullptr;
      if (FAILED(api().allocate_more(static_cast<ULONG>((s.size() + 1) * 2), props, &p)))
        return nullptr;
      std::memcpy(p, s.c_str(), (s.size() + 1) * 2);
      return static_cast<LPWSTR>(p);
    };
    props[0].ulPropTag = PR_RECIPIENT_TYPE;
    props[0].Value.l = r.type;
    props[1].ulPropTag = PR_DISPLAY_NAME_W;
    props[1].Value.lpszW = copy(r.name);
    props[2].ulPropTag = PR_ADDRTYPE_W;
    props[2].Value.lpszW = copy(u"SMTP");
    props[3].ulPropTag = PR_EMAIL_ADDRESS_W;
    props[3].Value.lpszW = copy(r.address);
    props[4].ulPropTag = tag::kSmtpAddress;
    props[4].Value.lpszW = copy(r.address);
    list->aEntries[list->cEntries].ulReserved1 = 0;
    list->aEntries[list->cEntries].cValues = kProps;
    list->aEntries[list->cEntries].rgPropVals = props;
    ++list->cEntries;
    if (!props[1].Value.lpszW || !props[2].Value.lpszW || !props[3].Value.lpszW ||
        !props[4].Value.lpszW) {
      free_list();
      return Error::Transient("out of MAPI memory");
    }
  }
  HRESULT h = m->ModifyRecipients(0, list);
  free_list();
  if (FAILED(h)) return error_of(h, "ModifyRecipients");
  return Ok();
}

Result<Mailbox::Head> Mailbox::head_of(IMessage* m) {
  TagArray tags({PR_MESSAGE_CLASS_W, PR_PARENT_ENTRYID, tag::kChangeKey});
  ULONG count = 0;
  MapiBuffer<SPropValue> v(api());
  if (HRESULT h = m->GetProps(tags.get(), MAPI_UNICODE, &count, v.out()); FAILED(h))
    return error_of(h, "GetProps");
  if (count != 3 || PROP_TYPE(v.get()[0].ulPropTag) != PT_UNICODE ||
      PROP_TYPE(v.get()[1].ulPropTag) != PT_BINARY || PROP_TYPE(v.get()[2].ulPropTag) != PT_BINARY)
    return Error::Invalid("item without class, folder or change key");
  auto kind = kind_of_message_class(u16(v.get()[0].Value.lpszW));
  if (!kind) return kind.error();
  auto folder = folder_of(binary_of(v.get()[1].Value.bin));
  if (!folder) return Error::NotFound("item outside the synchronized folders");
  return Head{*kind, *folder, binary_of(v.get()[2].Value.bin)};
}

std::optional<Folder> Mailbox::folder_of(const Binary& parent) {
  for (const auto& [f, open] : folders_)
    if (same_entry(parent, open.entry_id)) return f;
  return std::nullopt;
}

bool Mailbox::same_entry(const Binary& a, const Binary& b) {
  if (a == b) return true;
  ULONG result = 0;
  HRESULT h = store_->CompareEntryIDs(
      static_cast<ULONG>(a.size()), reinterpret_cast<LPENTRYID>(const_cast<BYTE*>(a.data())),
      static_cast<ULONG>(b.size()), reinterpret_cast<LPENTRYID>(const_cast<BYTE*>(b.data())), 0,
      &result);
  return SUCCEEDED(h) && result;
}

Result<StoreItem> Mailbox::read(const Binary& id, CategoryMark* mark_out) {
  auto msg = open_message(id, false);
  if (!msg) return msg.error();
  auto head = head_of(msg->get());
  if (!head) return head.error();
  std::vector<PropRef> refs = props_to_read(head->kind);
  std::vector<ULONG> tags = {PR_LAST_MODIFICATION_TIME};
  for (const PropRef& r : refs) tags.push_back(tag_of(r));
  TagArray ta(tags);
  ULONG count = 0;
  MapiBuffer<SPropValue> v(api());
  if (HRESULT h = (*msg)->GetProps(ta.get(), MAPI_UNICODE, &count, v.out()); FAILED(h))
    return error_of(h, "GetProps");
  if (count != tags.size()) return Error::Internal("GetProps returned a different column count");
  std::map<PropRef, PropValue> values;
  for (ULONG i = 1; i < count; ++i) {
    const SPropValue& p = v.get()[i];
    if (PROP_TYPE(p.ulPropTag) == PT_ERROR) {
      // Large text (a long body) does not fit GetProps: read it as a stream.
      if (p.Value.err == static_cast<SCODE>(hr::kNotEnoughMemory) &&
          PROP_TYPE(tags[i]) == PT_UNICODE) {
        auto text = read_stream(msg->get(), tags[i]);
        if (!text) return text.error();
        values[refs[i - 1]] = std::move(*text);
      }
      continue;
    }
    values[refs[i - 1]] = from_spv(p);
  }
  std::vector<Recipient> recipients;
  if (head->kind == ItemKind::kEmail || head->kind == ItemKind::kAppointment) {
    auto r = read_recipients(msg->get());
    if (!r) return r.error();
    recipients = std::move(*r);
  }
  PropLookup get = [&](const PropRef& r) -> const PropValue* {
    auto it = values.find(r);
    return it == values.end() ? nullptr : &it->second;
  };
  StoreItem out;
  out.entry_id = EntryId(entry_id_text(id));
  out.change_key = to_hex(head->change_key);
  out.folder = head->folder;
  out.item.kind = head->kind;
  auto fields = decode_fields(head->kind, get, recipients);
  if (!fields) return fields.error().context("item " + out.entry_id.str().substr(0, 64));
  out.item.fields = std::move(*fields);
  auto link = decode_link(get);
  if (!link) return link.error().context("item " + out.entry_id.str().substr(0, 64));
  out.link = *link;
  auto mark = decode_mark(get);
  if (!mark) return mark.error().context("item " + out.entry_id.str().substr(0, 64));
  out.categories = mark->categories;
  if (mark_out) *mark_out = std::move(*mark);
  if (PROP_TYPE(v.get()[0].ulPropTag) == PT_SYSTIME) {
    auto t = from_filetime(ticks_of(v.get()[0].Value.ft));
    if (!t) return t.error();
    out.item.modified = *t;
  }
  return out;
}

Result<std::u16string> Mailbox::read_stream(IMessage* m, ULONG t) {
  Com<IStream> stream;
  if (HRESULT h =
          m->OpenProperty(t, &IID_IStream, 0, 0, reinterpret_cast<LPUNKNOWN*>(stream.out()));
      FAILED(h))
    return error_of(h, "OpenProperty");
  std::u16string out;
  char16_t buf[4096];
  for (;;) {
    ULONG got = 0;
    HRESULT h = stream->Read(buf, sizeof buf, &got);
    if (FAILED(h)) return error_of(h, "IStream::Read");
    out.append(buf, got / 2);
    if (got < sizeof buf) break;
  }
  while (!out.empty() && out.back() == u'\0') out.pop_back();
  return out;
}

// The entry ids of a folder's (or its associated) contents, newest modification first.
Result<std::vector<Binary>> Mailbox::entry_ids(IMAPIFolder* f, ULONG flags, SRestriction* r) {
  Com<IMAPITable> table;
  if (HRESULT h = f->GetContentsTable(flags | MAPI_UNICODE, table.out()); FAILED(h))
    return error_of(h, "GetContentsTable");
  TagArray cols({PR_ENTRYID});
  if (HRESULT h = table->SetColumns(cols.get(), TBL_BATCH); FAILED(h))
    return error_of(h, "SetColumns");
  if (r)
    if (HRESULT h = table->Restrict(r, TBL_BATCH); FAILED(h)) return error_of(h, "Restrict");
  SizedSSortOrderSet(1, order) = {1, 0, 0, {{PR_LAST_MODIFICATION_TIME, TABLE_SORT_DESCEND}}};
  if (HRESULT h = table->SortTable(reinterpret_cast<LPSSortOrderSet>(&order), TBL_BATCH); FAILED(h))
    return error_of(h, "SortTable");
  std::vector<Binary> out;
  for (;;) {
    Rows rows(api());
    if (HRESULT h = table->QueryRows(kBatch, 0, rows.out()); FAILED(h))
      return error_of(h, "QueryRows");
    if (rows.size() == 0) break;
    for (ULONG i = 0; i < rows.size(); ++i)
      if (PROP_TYPE(rows[i].lpProps[0].ulPropTag) == PT_BINARY)
        out.push_back(binary_of(rows[i].lpProps[0].Value.bin));
  }
  return out;
}

Result<CategoryMark> Mailbox::mark_of(IMessage* m) {
  std::vector<PropRef> refs = link_props();
  refs.push_back(PropRef{Named::kKeywords});
  refs.push_back(PropRef{Named::kTrackCategory});
  std::vector<ULONG> tags;
  for (const PropRef& r : refs) tags.push_back(tag_of(r));
  TagArray ta(tags);
  ULONG count = 0;
  MapiBuffer<SPropValue> v(api());
  if (HRESULT h = m->GetProps(ta.get(), MAPI_UNICODE, &count, v.out()); FAILED(h))
    return error_of(h, "GetProps");
  if (count != tags.size()) return Error::Internal("GetProps returned a different column count");
  std::map<PropRef, PropValue> values;
  for (ULONG i = 0; i < count; ++i)
    if (PROP_TYPE(v.get()[i].ulPropTag) != PT_ERROR) values[refs[i]] = from_spv(v.get()[i]);
  return decode_mark([&](const PropRef& r) -> const PropValue* {
    auto it = values.find(r);
    return it == values.end() ? nullptr : &it->second;
  });
}

Result<std::string> Mailbox::write_mark(const Binary& id, const std::string& expected_change_key,
                                        bool tracked, const CategoryWrite& categories) {
  auto msg = open_message(id, true);
  if (!msg) return msg.error();
  if (!expected_change_key.empty()) {
    auto ck = binary_prop(msg->get(), tag::kChangeKey);
    if (!ck) return ck.error();
    if (to_hex(*ck) != expected_change_key)
      return Error::Conflict("item " + to_hex(id).substr(0, 64) + " changed (change key)");
  }
  std::vector<PropWrite> writes;
  if (tracked) {
    writes.push_back({PropRef{Named::kTracked}, true});
  } else {
    auto link = encode_link(CrmLink{});
    if (!link) return link.error();
    writes = std::move(*link);
  }
  auto marks = encode_mark(categories);
  if (!marks) return marks.error();
  writes.insert(writes.end(), marks->begin(), marks->end());
  CRMSYNC_TRY(write_props(msg->get(), writes));
  if (HRESULT h = (*msg)->SaveChanges(KEEP_OPEN_READWRITE); FAILED(h))
    return error_of(h, "SaveChanges");
  auto after = binary_prop(msg->get(), tag::kChangeKey);
  if (!after) return after.error();
  return to_hex(*after);
}

Result<std::string> Mailbox::read_binary(IMessage* m, ULONG t) {
  Com<IStream> stream;
  HRESULT h = m->OpenProperty(t, &IID_IStream, 0, 0, reinterpret_cast<LPUNKNOWN*>(stream.out()));
  if (h == static_cast<HRESULT>(hr::kNotFound)) return std::string();
  if (FAILED(h)) return error_of(h, "OpenProperty");
  std::string out;
  char buf[4096];
  for (;;) {
    ULONG got = 0;
    if (HRESULT r = stream->Read(buf, sizeof buf, &got); FAILED(r))
      return error_of(r, "IStream::Read");
    out.append(buf, got);
    if (out.size() > kMaxCategoryListBytes) return Error::Invalid("a property stream too large");
    if (got < sizeof buf) break;
  }
  return out;
}

Result<void> Mailbox::write_binary(IMessage* m, ULONG t, std::string_view bytes) {
  Com<IStream> stream;
  if (HRESULT h = m->OpenProperty(t, &IID_IStream, STGM_WRITE, MAPI_CREATE | MAPI_MODIFY,
                                  reinterpret_cast<LPUNKNOWN*>(stream.out()));
      FAILED(h))
    return error_of(h, "OpenProperty for writing");
  ULARGE_INTEGER size{};
  size.QuadPart = bytes.size();
  if (HRESULT h = stream->SetSize(size); FAILED(h)) return error_of(h, "IStream::SetSize");
  ULONG written = 0;
  if (HRESULT h = stream->Write(bytes.data(), static_cast<ULONG>(bytes.size()), &written);
      FAILED(h) || written != bytes.size())
    return error_of(FAILED(h) ? h : hr::kCallFailed, "IStream::Write");
  if (HRESULT h = stream->Commit(STGC_DEFAULT); FAILED(h)) return error_of(h, "IStream::Commit");
  return Ok();
}

}  // namespace crmsync::mapi
