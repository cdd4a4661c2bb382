"""The service's local time: Copenhagen, where a "day" (a rating's as_of, a call count's day) begins and ends."""

from zoneinfo import ZoneInfo

# The zone's name, for libraries configured by name (APScheduler, Flask-Babel).
TIMEZONE = "Europe/Copenhagen"
CPH = ZoneInfo(TIMEZONE)
