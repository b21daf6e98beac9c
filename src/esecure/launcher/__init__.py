"""The program on the key: start-up flow, data area, enrolment client, browser control, UI and
tray, diagnostics. Never signs anything."""
