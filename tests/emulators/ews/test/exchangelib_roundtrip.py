#!/usr/bin/env python3
"""Drive ews-emulator with exchangelib, an EWS client written independently of crmsync.

Usage: exchangelib_roundtrip.py URL EMAIL PASSWORD [NTLM_USER]
Creates, reads, updates and deletes a contact (with categories), a task, a calendar item and
user configurations (the calendar's "CategoryList", Outlook's master category list) through a
fixed service endpoint (no autodiscover). Exits non-zero with a message on any mismatch.
With NTLM_USER ("DOMAIN\\user") it signs in with NTLM (exchangelib's requests_ntlm, written
independently of GSSAPI) instead of Basic.
"""
import sys

from exchangelib import (BASIC, DELEGATE, NTLM, Account, CalendarItem, Configuration, Contact,
                         Credentials, EWSDate, EWSDateTime, Task, UTC)
from exchangelib.indexed_properties import EmailAddress, PhoneNumber


def check(cond, what):
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)


def gone(folder, item_id):
    # exchangelib returns (or raises) ErrorItemNotFound for a missing item.
    try:
        result = folder.get(id=item_id)
    except Exception as e:
        return type(e).__name__ in ("ErrorItemNotFound", "DoesNotExist")
    return type(result).__name__ == "ErrorItemNotFound"


def main():
    url, email, password = sys.argv[1:4]
    ntlm_user = sys.argv[4] if len(sys.argv) > 4 else None
    if ntlm_user:
        config = Configuration(service_endpoint=url, credentials=Credentials(ntlm_user, password),
                               auth_type=NTLM)
    else:
        config = Configuration(service_endpoint=url, credentials=Credentials(email, password),
                               auth_type=BASIC)
    account = Account(email, config=config, autodiscover=False, access_type=DELEGATE)

    # Notifications and sync, parsed by exchangelib: a pull and a streaming
    # subscription on Contacts, and a SyncFolderItems baseline.
    pull_id, watermark = account.contacts.subscribe_to_pull(event_types=["CreatedEvent", "ModifiedEvent"])
    stream_id = account.contacts.subscribe_to_streaming(event_types=["CreatedEvent"])
    list(account.contacts.sync_items())
    sync_state = account.contacts.item_sync_state
    check(sync_state, "initial sync state")

    # Contact
    contact = Contact(folder=account.contacts, given_name="Ada", surname="Lovelace",
                      display_name="Ada Lovelace", categories=["Red", "Tracked to Dynamics 365"],
                      company_name="Analytical Engines", job_title="Analyst",
                      email_addresses=[EmailAddress(label="EmailAddress1", email="ada@example.test")],
                      phone_numbers=[PhoneNumber(label="MobilePhone", phone_number="+1 555 0100")])
    contact.save()
    check(contact.id and contact.changekey, "contact id after save")
    got = account.contacts.get(id=contact.id)
    check(got.given_name == "Ada" and got.surname == "Lovelace", f"contact names: {got.given_name}")
    check(got.company_name == "Analytical Engines", "company name")
    check(any(e.email == "ada@example.test" for e in (got.email_addresses or [])), "email address")
    check(any(p.phone_number == "+1 555 0100" for p in (got.phone_numbers or [])), "mobile phone")
    check(got.categories == ["Red", "Tracked to Dynamics 365"], f"categories: {got.categories}")
    events = [e for n in account.contacts.get_events(pull_id, watermark) for e in n.events]
    created = [e for e in events if type(e).__name__ == "CreatedEvent"]
    check(len(created) == 1 and created[0].item_id.id == contact.id,
          f"pull GetEvents sees the creation: {events}")
    streamed = list(account.contacts.get_streaming_events(stream_id, connection_timeout=1,
                                                          max_notifications_returned=1))
    check(any(type(e).__name__ == "CreatedEvent" and e.item_id.id == contact.id
              for n in streamed for e in n.events), f"streaming event: {streamed}")
    changes = list(account.contacts.sync_items(sync_state=sync_state))
    check(len(changes) == 1 and changes[0][0] == "create" and changes[0][1].id == contact.id,
          f"one sync change, the creation: {changes}")
    account.contacts.unsubscribe(pull_id)
    account.contacts.unsubscribe(stream_id)
    got.job_title = "Countess"
    got.save(update_fields=["job_title"])
    again = account.contacts.get(id=contact.id)
    check(again.job_title == "Countess", f"updated job title: {again.job_title}")
    check(sum(1 for _ in account.contacts.all()) == 1, "one contact listed")
    again.delete()
    check(gone(account.contacts, contact.id), "contact deleted")

    # Task
    task = Task(folder=account.tasks, subject="Call back", status="InProgress",
                due_date=EWSDate(2026, 12, 1), importance="High")
    task.save()
    got = account.tasks.get(id=task.id)
    check(got.subject == "Call back" and got.status == "InProgress", f"task: {got.status}")
    check(got.importance == "High", "task importance")
    got.subject = "Call back soon"
    got.save(update_fields=["subject"])
    check(account.tasks.get(id=task.id).subject == "Call back soon", "task subject updated")
    got.delete()
    check(gone(account.tasks, task.id), "task deleted")

    # Calendar item
    start = EWSDateTime(2026, 12, 1, 9, 0, tzinfo=UTC)
    end = EWSDateTime(2026, 12, 1, 10, 0, tzinfo=UTC)
    item = CalendarItem(folder=account.calendar, subject="Review", start=start, end=end,
                        location="Room 1", body="Agenda")
    item.save(send_meeting_invitations="SendToNone")
    got = account.calendar.get(id=item.id)
    check(got.subject == "Review" and got.location == "Room 1", f"calendar: {got.location}")
    check(got.start == start and got.end == end, f"calendar times: {got.start} {got.end}")
    got.location = "Room 2"
    got.save(update_fields=["location"], send_meeting_invitations="SendToNone")
    check(account.calendar.get(id=item.id).location == "Room 2", "location updated")
    got.delete(send_meeting_cancellations="SendToNone")
    check(gone(account.calendar, item.id), "calendar item deleted")

    # User configurations: the master category list as Outlook keeps it, and a dictionary.
    def raises(fn, name):
        try:
            fn()
        except Exception as e:
            return type(e).__name__ == name
        return False

    check(raises(lambda: account.calendar.get_user_configuration("CategoryList"),
                 "ErrorItemNotFound"), "no category list yet")
    first = (b'<?xml version="1.0"?><categories xmlns="CategoryList.xsd">'
             b'<category name="Red" color="0"/></categories>')
    account.calendar.create_user_configuration("CategoryList", xml_data=first)
    check(raises(lambda: account.calendar.create_user_configuration("CategoryList", xml_data=first),
                 "ErrorItemSave"), "a second create is refused")
    got = account.calendar.get_user_configuration("CategoryList", properties="XmlData")
    check(got.xml_data == first, f"category list read back: {got.xml_data}")
    second = first.replace(b"</categories>", b'<category name="Blue" color="7"/></categories>')
    account.calendar.update_user_configuration("CategoryList", xml_data=second)
    got = account.calendar.get_user_configuration("CategoryList")
    check(got.xml_data == second and got.id, f"category list updated: {got.xml_data}")
    account.inbox.create_user_configuration("Settings", dictionary={"Mode": "on", "Count": 3})
    got = account.inbox.get_user_configuration("Settings", properties="Dictionary")
    check(got.dictionary == {"Mode": "on", "Count": 3}, f"dictionary: {got.dictionary}")
    check(raises(lambda: account.inbox.get_user_configuration("CategoryList"),
                 "ErrorItemNotFound"), "configurations are per folder")
    account.calendar.delete_user_configuration("CategoryList")
    check(raises(lambda: account.calendar.get_user_configuration("CategoryList"),
                 "ErrorItemNotFound"), "category list deleted")

    print("exchangelib round trip OK")


if __name__ == "__main__":
    main()
