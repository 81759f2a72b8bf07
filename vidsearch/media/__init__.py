"""Media: probing files, planning windows, sampling frames, reading subtitles."""
