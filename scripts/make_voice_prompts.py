"""Regenerate the placeholder Kiswahili voice prompts with espeak-ng (apt-get install espeak-ng).

    .venv/bin/python scripts/make_voice_prompts.py [out_dir]   # default gateway/voice_prompts

Writes <out_dir>/sw/<name>.wav, 8 kHz mono 8-bit PCM (phone quality, small in git), silence trimmed: the texts of
gateway.providers.africastalking.voice.PROMPTS from the sw catalog, day_01..day_31 and month_01..month_12.
A lender replaces any file with a real recording of the same name.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import wave
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from gateway.i18n import Speaker  # noqa: E402
from gateway.providers.africastalking.voice import PROMPTS  # noqa: E402

UNITS = ["", "moja", "mbili", "tatu", "nne", "tano", "sita", "saba", "nane", "tisa"]
TENS = {1: "kumi", 2: "ishirini", 3: "thelathini"}
MONTHS = ["Januari", "Februari", "Machi", "Aprili", "Mei", "Juni", "Julai", "Agosti", "Septemba", "Oktoba",
          "Novemba", "Desemba"]


def number_sw(n: int) -> str:
    tens, units = divmod(n, 10)
    if not tens:
        return UNITS[units]
    return TENS[tens] + (f" na {UNITS[units]}" if units else "")


def to_8khz(src: Path, dst: Path) -> None:
    import audioop  # stdlib until Python 3.13; enough for a placeholder

    with wave.open(str(src)) as w:
        frames, rate = w.readframes(w.getnframes()), w.getframerate()
        width, channels = w.getsampwidth(), w.getnchannels()
    if channels == 2:
        frames = audioop.tomono(frames, width, 0.5, 0.5)
    frames, _ = audioop.ratecv(frames, width, 1, rate, 8000, None)
    # trim leading/trailing silence (espeak pads), keeping 50 ms either side
    step = width * 80
    loud = [i for i in range(0, len(frames), step) if audioop.rms(frames[i:i + step], width) > 200]
    if loud:
        frames = frames[max(loud[0] - step // 2, 0):loud[-1] + step + step // 2]
    frames = audioop.bias(audioop.lin2lin(frames, width, 1), 1, 128)  # WAV 8-bit is unsigned
    with wave.open(str(dst), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(1)
        out.setframerate(8000)
        out.writeframes(frames)


def main(out_dir: Path) -> None:
    sw = Speaker("sw")
    texts = {name: sw._(msgid) for name, msgid in PROMPTS.items()}
    texts.update({f"day_{d:02d}": number_sw(d) for d in range(1, 32)})
    texts.update({f"month_{m:02d}": MONTHS[m - 1] for m in range(1, 13)})
    folder = out_dir / "sw"
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in texts.items():
            raw = Path(tmp) / f"{name}.wav"
            subprocess.run(["espeak-ng", "-v", "sw", "-s", "140", "-w", str(raw), text], check=True)
            to_8khz(raw, folder / f"{name}.wav")
    print(f"wrote {len(texts)} prompts to {folder}")


if __name__ == "__main__":
    default = Path(__file__).resolve().parent.parent / "gateway" / "voice_prompts"
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else default)
