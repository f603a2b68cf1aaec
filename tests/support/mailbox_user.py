#!/usr/bin/env python3
"""The user's side of the EWS end-to-end tests: Outlook on the web, played by exchangelib.

exchangelib is an EWS client written independently of crmsync (Debian python3-exchangelib),
driven with the service endpoint given, no autodiscover, Basic auth.

Usage: mailbox_user.py [--timezone IANA] URL EMAIL PASSWORD COMMAND ARGS...
  --timezone            the user's zone, as set in Outlook on the web (default: UTC); all-day
                        events made with dates ("start": "2026-07-15") start at its midnight
  create KIND JSON      the new item's id on stdout
  update KIND ID JSON   sets the given fields (the others are left alone)
  show KIND ID          a JSON object: the item's fields, or {"missing": true}
  delete KIND ID        moves it to Deleted Items, as Outlook does
  send JSON             sends an e-mail from this account (subject, body, to_recipients)
  find KIND SUBJECT     the id of the item with that subject (none: exit 3)
  count KIND            how many items the kind's folder holds
  ids KIND              the ids of the items the kind's folder holds (a JSON array)
  hidden CLASS          how many items of that item class the root folder holds (crmsync's
                        lease and queue items, outside what the user sees)
  master-categories     the names in the mailbox's master category list (a JSON array; null
                        without one), as Outlook reads it: the calendar's "CategoryList"
  set-master-categories JSON   makes the list hold these names (a new document)
  set-master-xml TEXT   makes the list's document TEXT as it is (a broken client's)
  show-master-xml       the list's document as it is
KIND: contact, task, appointment or email (kept in the inbox). JSON keys are exchangelib field
names, plus "tracked" (bool) and "regarding" ("entity:guid"): crmsync's named properties,
which the CRM add-in sets when the user tracks an item or sets its regarding record.
"""
import json
import sys

from exchangelib import (BASIC, DELEGATE, Account, CalendarItem, Configuration, Contact,
                         Credentials, EWSDate, EWSDateTime, EWSTimeZone, ExtendedProperty,
                         Message, Task)
from exchangelib.properties import Mailbox

CRMSYNC_SET = "c3a7d2f0-5b1e-4e8a-9f6d-2a4b8c1e7f35"


class CrmTracked(ExtendedProperty):
    property_set_id = CRMSYNC_SET
    property_name = "Tracked"
    property_type = "Boolean"


class CrmId(ExtendedProperty):
    property_set_id = CRMSYNC_SET
    property_name = "CrmId"
    property_type = "String"


class CrmRegarding(ExtendedProperty):
    property_set_id = CRMSYNC_SET
    property_name = "Regarding"
    property_type = "String"


MODELS = {"contact": Contact, "task": Task, "appointment": CalendarItem, "email": Message}
LINK = {"tracked": "crm_tracked", "crm_id": "crm_id", "regarding": "crm_regarding"}
for model in MODELS.values():
    model.register("crm_tracked", CrmTracked)
    model.register("crm_id", CrmId)
    model.register("crm_regarding", CrmRegarding)

DATETIMES = {"start", "end"}
DATES = {"due_date", "start_date", "birthday"}


def folder_of(account, kind):
    return {"contact": account.contacts, "task": account.tasks,
            "appointment": account.calendar, "email": account.inbox}[kind]


def to_python(key, value):
    if key in DATETIMES:  # a date alone: an all-day event's day
        return EWSDateTime.from_string(value) if "T" in value else EWSDate.from_string(value)
    if key in DATES:
        return EWSDate.from_string(value)
    if key in ("sender", "author"):
        return Mailbox(email_address=value)
    if key == "to_recipients":
        return [Mailbox(email_address=v) for v in value]
    return value


def fields_of(spec):
    return {LINK.get(k, k): to_python(k, v) for k, v in spec.items()}


def get(account, kind, item_id):
    try:
        item = folder_of(account, kind).get(id=item_id)
    except Exception as e:  # exchangelib raises DoesNotExist or returns the error
        if type(e).__name__ in ("ErrorItemNotFound", "DoesNotExist"):
            return None
        raise
    if isinstance(item, Exception):
        if type(item).__name__ == "ErrorItemNotFound":
            return None
        raise item
    return item


def plain(value):
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (EWSDateTime, EWSDate)):
        return value.isoformat()
    if isinstance(value, Mailbox):
        return value.email_address
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return str(value)


def master_categories(account):
    """The names of the master category list, None when the mailbox has none."""
    from xml.etree import ElementTree
    try:
        config = account.calendar.get_user_configuration("CategoryList", properties="XmlData")
    except Exception as e:
        if type(e).__name__ == "ErrorItemNotFound":
            return None
        raise
    root = ElementTree.fromstring(config.xml_data)
    return [c.get("name") for c in root if c.tag.endswith("category")]


def main():
    argv = sys.argv[1:]
    zone = EWSTimeZone("UTC")
    if argv[:1] == ["--timezone"]:
        zone = EWSTimeZone(argv[1])
        argv = argv[2:]
    url, email, password, command = argv[:4]
    args = argv[4:]
    config = Configuration(service_endpoint=url, credentials=Credentials(email, password),
                           auth_type=BASIC)
    account = Account(email, config=config, autodiscover=False, access_type=DELEGATE,
                      default_timezone=zone)
    if command == "hidden":
        print(account.root.filter(item_class=args[0]).count())
        return
    if command == "show-master-xml":
        print(account.calendar.get_user_configuration("CategoryList", properties="XmlData")
              .xml_data.decode())
        return
    if command == "master-categories":
        print(json.dumps(master_categories(account)))
        return
    if command in ("set-master-categories", "set-master-xml"):
        doc = args[0]
        if command == "set-master-categories":
            xml = "".join(f'<category name="{n}" color="0" keyboardShortcut="0"/>'
                          for n in json.loads(args[0]))
            doc = f'<?xml version="1.0"?><categories xmlns="CategoryList.xsd">{xml}</categories>'
        try:
            exists = account.calendar.get_user_configuration("CategoryList", properties="Id")
        except Exception as e:
            if type(e).__name__ != "ErrorItemNotFound":
                raise
            exists = None
        if exists is None:
            account.calendar.create_user_configuration("CategoryList", xml_data=doc.encode())
        else:
            account.calendar.update_user_configuration("CategoryList", xml_data=doc.encode())
        return
    if command == "send":
        Message(account=account, **fields_of(json.loads(args[0]))).send()
        return
    kind = args[0]
    model = MODELS[kind]
    if command == "count":
        print(folder_of(account, kind).all().count())
        return
    if command == "ids":
        print(json.dumps([item.id for item in folder_of(account, kind).all().only("id")]))
        return
    if command == "find":
        for item in folder_of(account, kind).filter(subject=args[1]).only("id"):
            print(item.id)
            return
        sys.exit(3)
    if command == "create":
        fields = fields_of(json.loads(args[1]))
        if kind == "contact" and "display_name" not in fields:  # as Outlook fills it in
            names = [fields.get(k) for k in ("given_name", "middle_name", "surname")]
            fields["display_name"] = " ".join(n for n in names if n) or "(no name)"
        item = model(folder=folder_of(account, kind), **fields)
        if kind == "appointment":
            item.save(send_meeting_invitations="SendToNone")
        else:
            item.save()
        print(item.id)
    elif command == "update":
        item = get(account, kind, args[1])
        if item is None:
            sys.exit(f"no such {kind}: {args[1]}")
        changes = fields_of(json.loads(args[2]))
        for k, v in changes.items():
            setattr(item, k, v)
        extra = {"send_meeting_invitations": "SendToNone"} if kind == "appointment" else {}
        item.save(update_fields=list(changes), **extra)
    elif command == "show":
        item = get(account, kind, args[1])
        if item is None:
            print(json.dumps({"missing": True}))
            return
        out = {f.name: plain(getattr(item, f.name, None)) for f in model.FIELDS
               if not f.is_attribute and f.name not in ("mime_content", "attachments")}
        for k, name in LINK.items():
            out[k] = plain(getattr(item, name, None))
        print(json.dumps(out))
    elif command == "delete":
        item = get(account, kind, args[1])
        if item is None:
            sys.exit(f"no such {kind}: {args[1]}")
        extra = {"send_meeting_cancellations": "SendToNone"} if kind == "appointment" else {}
        if kind == "task":
            extra = {"affected_task_occurrences": "AllOccurrences"}
        item.move_to_trash(**extra)
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()
