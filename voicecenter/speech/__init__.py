"""Speech: the Vosk speech service, listening in live calls, and transcripts.

server.py is the service process (one model, many streams, vosk-server's
WebSocket protocol); service.py starts and supervises it for `serve`;
listener.py is the media side of a listen, live.py the control plane's;
transcribe.py and jobs.py turn recordings into stored transcripts.
"""
