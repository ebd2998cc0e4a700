"""An Apache OpenWhisk Python action: wsk action create greet main.py --kind python:3."""
import datetime


def greeting(name, hour):
    part = "morning" if hour < 12 else "afternoon" if hour < 18 else "evening"
    return "Good %s, %s" % (part, name)


def main(args):
    name = args.get("name", "stranger")
    hour = int(args.get("hour", datetime.datetime.now(datetime.timezone.utc).hour))
    return {"greeting": greeting(name, hour), "via": args.get("__ow_method")}
