"""Fetch a twin as a system prompt from Python (requests). Needs TWIN_KEY."""
import os

import requests

base = os.environ.get("TWIN_BASE_URL", "http://127.0.0.1:8080")
response = requests.get(
    f"{base}/v1/public/twin/preset/estandar",
    params={"format": "json", "lang": "es"},
    headers={"X-Twin-Key": os.environ["TWIN_KEY"]},
    timeout=30,
)
response.raise_for_status()
system_prompt = response.json()["systemPrompt"]
# Put system_prompt in the system message of your LLM call.
print(system_prompt)
