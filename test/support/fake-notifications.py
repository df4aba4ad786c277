"""A recording org.freedesktop.Notifications service for tests (no notification daemon runs here).

Usage: /usr/bin/python3 fake-notifications.py RECORD_FILE
Owns org.freedesktop.Notifications on the session bus that DBUS_SESSION_BUS_ADDRESS names,
answers Notify like a notification daemon (a new id each time) and appends each call to
RECORD_FILE as one JSON line. Prints "ready" once the name is owned. Needs Debian's
python3-dbus and python3-gi.
"""
import json
import sys

import dbus
import dbus.service
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

INTERFACE = 'org.freedesktop.Notifications'


class Notifications(dbus.service.Object):
    def __init__(self, bus, record):
        super().__init__(bus, '/org/freedesktop/Notifications')
        self.record = record
        self.last_id = 0

    @dbus.service.method(INTERFACE, in_signature='susssasa{sv}i', out_signature='u')
    def Notify(self, app_name, replaces_id, app_icon, summary, body, actions, hints, expire_timeout):
        self.last_id += 1
        entry = {
            'appName': str(app_name),
            'replacesId': int(replaces_id),
            'appIcon': str(app_icon),
            'summary': str(summary),
            'body': str(body),
            'actions': [str(a) for a in actions],
            'hints': {str(k): (int(v) if isinstance(v, (dbus.Byte, dbus.Int32, dbus.UInt32)) else str(v)) for k, v in hints.items()},
            'expireTimeout': int(expire_timeout),
        }
        with open(self.record, 'a', encoding='utf-8') as f:
            f.write(json.dumps(entry) + '\n')
        return dbus.UInt32(self.last_id)

    @dbus.service.method(INTERFACE, in_signature='', out_signature='as')
    def GetCapabilities(self):
        return ['body']

    @dbus.service.method(INTERFACE, in_signature='', out_signature='ssss')
    def GetServerInformation(self):
        return ('fake-notifications', 'cognito-broker tests', '1', '1.2')

    @dbus.service.method(INTERFACE, in_signature='u', out_signature='')
    def CloseNotification(self, notification_id):
        pass


def main():
    DBusGMainLoop(set_as_default=True)
    bus = dbus.SessionBus()
    name = dbus.service.BusName(INTERFACE, bus, do_not_queue=True)
    service = Notifications(bus, sys.argv[1])
    print('ready', flush=True)
    GLib.MainLoop().run()
    del name, service


if __name__ == '__main__':
    main()
