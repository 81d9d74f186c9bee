"""Build the labelled evaluation set for the vision signals (issue 18), reproducibly and offline.

Every picture comes from a photo or texture that an installed package ships (scikit-image's
``skimage/data``, matplotlib's ``sample_data``); ``eval/SOURCES.md`` lists each one with its
licence and sha256, and :func:`check_sources` refuses to build if a file differs. Each item is
made by a transformation whose effect on the labels is known, so **labels come from how an item
was made** (plus the hand-annotated boxes and facts below, which a person read off the photos),
never from our own pipeline:

- ``frontal``: the portrait on a 640x480 "webcam" canvas, mirrored or rolled by up to 8 degrees;
- ``tilted``: the same rolled by 25 degrees (the shoulder line tilts by as much: not upright;
  gaze direction does not change with roll, so eye contact stays);
- ``turned``: the cameraman (a real head in near profile, eyes on his camera's viewfinder);
- ``dark``: low light, low contrast, sensor noise, blur, heavy JPEG (poor light, cheap webcam);
- ``occluded``: a flat patch over the eyes (sunglasses, a hand) or over the mouth (a hand): the
  covered signal has no label, the other signals keep theirs;
- ``distant``: the person scaled to 50/35/25 % (a face 45-20 px wide);
- ``two_faces``: a second person's head pasted beside the candidate, smaller than the
  candidate's face (so the largest face, which the signals are measured on, is still the
  candidate's);
- ``face_lost``: the photo shifted sideways until the whole face box is out of the frame
  (a strip of the photo, shoulder or background, stays in view: leaning out of the camera);
- ``no_face``: textures and photos without any person, and crops of the portraits below the chin;
- ``clip``: short sequences (present, leaves, comes back) scored frame by frame, for the tracker.

Output: ``<out>/items.json`` (ids, condition, split part, how each item was made, per-frame
labels) and one PNG per frame. Nothing is random but the noise, drawn from a fixed seed.

    .venv/bin/python -m eval.build_set [--out artifacts/eval-set]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "artifacts" / "eval-set"
W, H = 640, 480  # the "webcam" canvas
SEED = 18  # noise draws and the split
HELD_OUT_NUM, HELD_OUT_DEN = 1, 2  # half of each condition is held out

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels


# -- sources -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Source:
    name: str
    package: str
    path: str  # inside the package
    licence: str
    what: str


def _skimage(name: str) -> Path:
    import skimage.data

    return Path(skimage.data.__file__).parent / name


def _mpl(name: str) -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "sample_data" / name


SOURCES: dict[str, Source] = {s.name: s for s in (
    Source("astronaut", "scikit-image", "skimage/data/astronaut.png",
           "public domain (NASA)", "Eileen Collins, frontal portrait, smiling, looking into the lens"),
    Source("grace_hopper", "matplotlib", "mpl-data/sample_data/grace_hopper.jpg",
           "public domain (US Navy photograph)",
           "Grace Hopper, frontal portrait with glasses, neutral mouth, looking into the lens"),
    Source("camera", "scikit-image", "skimage/data/camera.png", "CC0 (Lav Varshney)",
           "a photographer in near profile, eye at his camera, stooping"),
    Source("brick", "scikit-image", "skimage/data/brick.png", "CC0 (CC0Textures)", "brick wall"),
    Source("gravel", "scikit-image", "skimage/data/gravel.png", "CC0 (CC0Textures)", "gravel"),
    Source("grass", "scikit-image", "skimage/data/grass.png", "CC0 (DeviantArt, linolafett)",
           "grass"),
    Source("coffee", "scikit-image", "skimage/data/coffee.png", "CC0 (Rachel Michetti)",
           "a coffee cup"),
    Source("chelsea", "scikit-image", "skimage/data/chelsea.png", "CC0 (Stefan van der Walt)",
           "a cat's face (a face, but not a person's)"),
    Source("rocket", "scikit-image", "skimage/data/rocket.jpg", "public domain (SpaceX)",
           "a rocket launch"),
    Source("hubble_deep_field", "scikit-image", "skimage/data/hubble_deep_field.jpg",
           "public domain (NASA)", "galaxies"),
    Source("coins", "scikit-image", "skimage/data/coins.png",
           "no known copyright restrictions (Brooklyn Museum)", "coins"),
    Source("horse", "scikit-image", "skimage/data/horse.png", "CC0 (openclipart, marauder)",
           "a horse silhouette"),
    Source("text", "scikit-image", "skimage/data/text.png", "public domain (Wikipedia)",
           "corner test image"),
)}


def source_path(name: str) -> Path:
    """Where the installed package keeps a source."""
    s = SOURCES[name]
    return _mpl(Path(s.path).name) if s.package == "matplotlib" else _skimage(Path(s.path).name)

SHA256_FILE = Path(__file__).with_name("sources.sha256")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def expected_sha256() -> dict[str, str]:
    """The recorded checksum of every source (``eval/sources.sha256``, ``sha  name`` lines)."""
    out = {}
    for line in SHA256_FILE.read_text().splitlines():
        if line.strip():
            digest, name = line.split()
            out[name] = digest
    return out


def check_sources() -> None:
    """Fail when an installed source file is not the one recorded (another package version)."""
    want = expected_sha256()
    for name in SOURCES:
        got = _sha256(source_path(name))
        if want.get(name) != got:
            raise SystemExit(f"source {name} ({source_path(name)}) has sha256 {got}, "
                             f"eval/sources.sha256 records {want.get(name)}")


def load(name: str) -> np.ndarray:
    """A source as an RGB uint8 array."""
    from PIL import Image

    with Image.open(source_path(name)) as im:
        a = np.asarray(im.convert("RGB"))
    return np.ascontiguousarray(a)


# -- people: what a person read off each photo --------------------------------------------------


@dataclass(frozen=True, slots=True)
class Subject:
    name: str
    face: Box  # forehead to chin, cheek to cheek
    head: Box  # crop pasted as a second person (hair included)
    eyes: Box | None  # patch that hides both eyes (glasses included)
    mouth: Box | None  # patch that hides the mouth
    eye_contact: bool  # looks into the lens
    smiling: bool
    upright: bool  # sits or stands straight, shoulders level


SUBJECTS = {s.name: s for s in (
    Subject("astronaut", face=(172, 55, 280, 188), head=(148, 12, 302, 195),
            eyes=(184, 88, 266, 116), mouth=(196, 128, 256, 160),
            eye_contact=True, smiling=True, upright=True),
    Subject("grace_hopper", face=(157, 140, 372, 335), head=(150, 20, 380, 350),
            eyes=(176, 165, 352, 234), mouth=(216, 256, 320, 302),
            eye_contact=True, smiling=False, upright=True),
    Subject("camera", face=(178, 95, 258, 195), head=(155, 60, 272, 210), eyes=None, mouth=None,
            eye_contact=False, smiling=False, upright=False),
)}


# -- items -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Labels:
    """What is true of one frame; None = no label (not scored for that signal)."""

    faces: int | None  # faces fully in view
    eye_contact: bool | None = None
    smile: bool | None = None
    upright: bool | None = None


@dataclass(slots=True)
class Item:
    id: str
    condition: str
    how: str
    sources: list[str]
    labels: list[Labels]
    frames: list[np.ndarray] = field(repr=False)
    part: str = ""


def assign_parts(items: list[Item]) -> None:
    """Seeded, fixed split, stratified by condition: within each condition the items are
    ordered by a seeded hash of their id and the first half (rounded up) is ``held_out``, the
    rest ``tune`` (the only part thresholds may be chosen on)."""
    by_condition: dict[str, list[Item]] = {}
    for item in items:
        by_condition.setdefault(item.condition, []).append(item)
    for group in by_condition.values():
        group.sort(key=lambda i: hashlib.sha256(f"{SEED}:{i.id}".encode()).hexdigest())
        cut = -(-len(group) * HELD_OUT_NUM // HELD_OUT_DEN)
        for n, item in enumerate(group):
            item.part = "held_out" if n < cut else "tune"


def _resize(img: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(img).resize((shape[1], shape[0]), Image.Resampling.LANCZOS))


def _background(name: str) -> np.ndarray:
    bg = load(name)
    return _resize(bg, (H, W)).astype(np.float32)


@dataclass(frozen=True, slots=True)
class Placed:
    """A photo placed on the canvas: ``scale`` and the photo's top-left corner on it."""

    scale: float
    x: float
    y: float

    def box(self, b: Box) -> Box:
        return (self.x + b[0] * self.scale, self.y + b[1] * self.scale,
                self.x + b[2] * self.scale, self.y + b[3] * self.scale)


def _paste(canvas: np.ndarray, img: np.ndarray, at: Placed) -> None:
    h = max(1, round(img.shape[0] * at.scale))
    w = max(1, round(img.shape[1] * at.scale))
    small = _resize(img, (h, w)).astype(np.float32)
    x, y = round(at.x), round(at.y)
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + w, canvas.shape[1]), min(y + h, canvas.shape[0])
    if x1 > x0 and y1 > y0:
        canvas[y0:y1, x0:x1] = small[y0 - y:y1 - y, x0 - x:x1 - x]


def in_view(b: Box) -> bool:
    return b[0] >= 0 and b[1] >= 0 and b[2] <= W and b[3] <= H


def out_of_view(b: Box) -> bool:
    return b[2] <= 0 or b[0] >= W or b[3] <= 0 or b[1] >= H


def framed(s: Subject, scale: float = 1.0, face_x: float = 0.5, face_y: float | None = None
           ) -> Placed:
    """Where the photo goes so it fills the canvas height (times ``scale``) with its face centre
    at ``face_x`` of the width (and ``face_y`` of the height; default: the photo's bottom on
    the canvas's bottom, as a seated person)."""
    img_h = {"astronaut": 512, "grace_hopper": 600, "camera": 512}[s.name]
    k = H / img_h * scale
    cx = (s.face[0] + s.face[2]) / 2 * k
    x = face_x * W - cx
    if face_y is None:
        y = H - img_h * k
    else:
        y = face_y * H - (s.face[1] + s.face[3]) / 2 * k
    return Placed(k, x, y)


def _u8(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.clip(np.rint(a), 0, 255).astype(np.uint8))


def _rotate(img: np.ndarray, degrees: float, centre: tuple[float, float]) -> np.ndarray:
    """Counter-clockwise in-plane rotation about ``centre`` (x, y); uncovered corners black."""
    from PIL import Image

    return np.asarray(Image.fromarray(img).rotate(degrees, Image.Resampling.BILINEAR,
                                                  center=centre, fillcolor=None))


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=quality)
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB"))


def _blur(img: np.ndarray, radius: float) -> np.ndarray:
    from PIL import Image, ImageFilter

    return np.asarray(Image.fromarray(img).filter(ImageFilter.GaussianBlur(radius)))


class Builder:
    def __init__(self) -> None:
        self.rng = np.random.default_rng(SEED)
        self.photos = {name: load(name) for name in SUBJECTS}
        self.bgs = {name: _background(name) for name in ("brick", "gravel", "grass")}
        self.items: list[Item] = []

    # a frame of one subject on the canvas
    def scene(self, s: Subject, at: Placed, bg: str = "brick", photo: np.ndarray | None = None
              ) -> np.ndarray:
        canvas = self.bgs[bg].copy()
        _paste(canvas, self.photos[s.name] if photo is None else photo, at)
        return canvas

    def add(self, item_id: str, condition: str, how: str, sources: list[str],
            frames: list[np.ndarray], labels: list[Labels]) -> None:
        assert len(frames) == len(labels)
        self.items.append(Item(item_id, condition, how, sources, labels,
                               [_u8(f) for f in frames]))

    def person(self, s: Subject, **over: object) -> Labels:
        d: dict[str, object] = {"faces": 1, "eye_contact": s.eye_contact, "smile": s.smiling,
                                "upright": s.upright}
        d.update(over)
        return Labels(**d)  # type: ignore[arg-type]

    def build(self) -> list[Item]:
        people = list(SUBJECTS.values())
        portraits = [SUBJECTS["astronaut"], SUBJECTS["grace_hopper"]]
        bgs = ["brick", "gravel", "grass"]

        # frontal (+ the turned cameraman in the same framings)
        for s in people:
            cond = "frontal" if s.eye_contact else "turned"
            at = framed(s)
            for bg_i, (mirror, roll) in enumerate(((False, 0), (True, 0), (False, 8), (True, -8))):
                frame = self.scene(s, at, bgs[bg_i % 3])
                if roll:
                    f = at.box(s.face)
                    frame = _rotate(_u8(frame), roll, ((f[0] + f[2]) / 2, (f[1] + f[3]) / 2))
                if mirror:
                    frame = frame[:, ::-1]
                self.add(f"{s.name}-{cond}-m{int(mirror)}-r{roll}", cond,
                         f"framed on {bgs[bg_i % 3]}, mirrored={mirror}, rolled {roll} deg",
                         [s.name, bgs[bg_i % 3]], [frame], [self.person(s)])

        # tilted: rolled 25 degrees about the face centre -> shoulders tilt ~25 degrees
        for s in portraits:
            at = framed(s)
            f = at.box(s.face)
            for roll in (25, -25):
                frame = _rotate(_u8(self.scene(s, at)), roll, ((f[0] + f[2]) / 2, (f[1] + f[3]) / 2))
                self.add(f"{s.name}-tilted-r{roll}", "tilted", f"rolled {roll} deg about the face",
                         [s.name, "brick"], [frame], [self.person(s, upright=False)])

        # dark / cheap webcam
        for s in people:
            at = framed(s)
            base = self.scene(s, at, "gravel")
            variants: list[tuple[str, np.ndarray]] = [
                ("dim", base * 0.3),
                ("dim-gamma", 255 * (base / 255) ** 1.8 * 0.6),
                ("low-contrast", base.mean() + (base - base.mean()) * 0.35),
                ("noise", base + self.rng.normal(0, 20, base.shape)),
                ("dim-noise", base * 0.35 + self.rng.normal(0, 8, base.shape)),
                ("blur-jpeg", _jpeg(_blur(_u8(base), 2.0), 12).astype(np.float32)),
            ]
            if s.name == "camera":
                variants = variants[::2]
            for tag, frame in variants:
                self.add(f"{s.name}-dark-{tag}", "dark", tag, [s.name, "gravel"], [frame],
                         [self.person(s)])

        # occluded
        for s in portraits:
            assert s.eyes is not None and s.mouth is not None
            photo = self.photos[s.name]
            fx0, fy0, fx1, fy1 = (int(v) for v in s.face)
            skin = photo[fy0:fy1, fx0:fx1].reshape(-1, 3).mean(axis=0)
            for part, box in (("eyes", s.eyes), ("mouth", s.mouth)):
                for colour_name, colour in (("dark", np.array([25, 25, 28])), ("skin", skin)):
                    covered = photo.copy()
                    x0, y0, x1, y1 = (int(v) for v in box)
                    covered[y0:y1, x0:x1] = colour
                    frame = self.scene(s, framed(s), "brick", covered)
                    over = {"eye_contact": None} if part == "eyes" else {"smile": None}
                    self.add(f"{s.name}-occluded-{part}-{colour_name}", "occluded",
                             f"{colour_name} patch over the {part}", [s.name, "brick"], [frame],
                             [self.person(s, **over)])

        # distant
        for s in people:
            for i, scale in enumerate((0.5, 0.35, 0.25)):
                at = framed(s, scale, face_x=(0.3, 0.5, 0.7)[i], face_y=0.35)
                assert in_view(at.box(s.face))
                self.add(f"{s.name}-distant-{int(scale * 100)}", "distant",
                         f"scaled to {scale:.0%} of the framed size", [s.name, bgs[i]],
                         [self.scene(s, at, bgs[i])], [self.person(s)])

        # two faces: the other person's head, its face r times the candidate's face width
        for main in portraits:
            at = framed(main, face_x=0.33)
            main_face = at.box(main.face)
            for other in people:
                if other is main:
                    continue
                for r in (0.5, 0.8, 0.95):
                    k = r * (main_face[2] - main_face[0]) / (other.face[2] - other.face[0])
                    hx0, hy0, hx1, hy1 = (int(v) for v in other.head)
                    head = self.photos[other.name][hy0:hy1, hx0:hx1]
                    fcx = ((other.face[0] + other.face[2]) / 2 - hx0) * k
                    fcy = ((other.face[1] + other.face[3]) / 2 - hy0) * k
                    pos = Placed(k, 0.78 * W - fcx, (main_face[1] + main_face[3]) / 2 - fcy)
                    second = Placed(k, pos.x - hx0 * k, pos.y - hy0 * k).box(other.face)
                    assert in_view(second) and in_view(main_face) and second[0] > main_face[2]
                    frame = self.scene(main, at, "grass")
                    _paste(frame, head, pos)
                    tag = f"{main.name}-two-{other.name}-{int(r * 100)}"
                    self.add(tag, "two_faces", f"{other.name}'s head pasted right, face {r:.0%} "
                             "of the candidate's width", [main.name, other.name, "grass"], [frame],
                             [self.person(main, faces=2)])
                    if other.name != "camera" and r == 0.8:
                        self.add(tag + "-dim", "two_faces", "the same, dimmed to 35 %",
                                 [main.name, other.name, "grass"], [frame * 0.35],
                                 [self.person(main, faces=2)])

        # face lost: shifted sideways until the face box is out of view
        for s in people:
            for side in (-1, 1):
                at = framed(s, face_x=0.5 + side * 0.72)
                assert out_of_view(at.box(s.face))
                self.add(f"{s.name}-lost-{'left' if side < 0 else 'right'}", "face_lost",
                         "shifted sideways until the face is out of view", [s.name, "brick"],
                         [self.scene(s, at, "brick")], [Labels(faces=0)])

        # no face: other photos and textures, and the portraits below the chin
        for name in ("coffee", "chelsea", "rocket", "hubble_deep_field", "coins", "horse", "text",
                     "brick", "gravel", "grass"):
            self.add(f"noface-{name}", "no_face", "a photo or texture without a person", [name],
                     [_resize(load(name), (H, W))], [Labels(faces=0)])
        for s in portraits:
            photo = self.photos[s.name]
            below = photo[int(s.face[3]) + 10:]
            self.add(f"{s.name}-noface-body", "no_face", "the photo below the chin, resized",
                     [s.name], [_resize(below, (H, W))], [Labels(faces=0)])

        # clips: present, leaves (2 frames), comes back; one analyzer over the frames
        for s in portraits:
            here = framed(s)
            gone = framed(s, face_x=1.25)
            frames = [self.scene(s, here), self.scene(s, here), self.scene(s, gone),
                      self.scene(s, gone), self.scene(s, here)]
            labels = [self.person(s), self.person(s), Labels(faces=0), Labels(faces=0),
                      self.person(s)]
            self.add(f"{s.name}-clip-leaves", "clip", "present, leaves right for 2 frames, back",
                     [s.name, "brick"], frames, labels)
        assign_parts(self.items)
        return self.items


def build(out: Path) -> list[Item]:
    """Build the set into ``out`` (replaced) and return its items."""
    from PIL import Image

    check_sources()
    items = Builder().build()
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    manifest = []
    for item in items:
        names = []
        for i, frame in enumerate(item.frames):
            name = f"{item.id}-{i}.png"
            Image.fromarray(frame).save(out / name, compress_level=1)
            names.append(name)
        manifest.append({"id": item.id, "condition": item.condition, "part": item.part,
                         "how": item.how, "sources": item.sources, "frames": names,
                         "labels": [asdict(lb) for lb in item.labels]})
    (out / "items.json").write_text(json.dumps({"seed": SEED, "items": manifest}, indent=1))
    return items


def read(out: Path) -> Iterator[tuple[dict, list[np.ndarray]]]:
    """The items of a built set with their frames (RGB uint8)."""
    from PIL import Image

    manifest = json.loads((out / "items.json").read_text())
    for entry in manifest["items"]:
        frames = []
        for name in entry["frames"]:
            with Image.open(out / name) as im:
                frames.append(np.ascontiguousarray(np.asarray(im.convert("RGB"))))
        yield entry, frames


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--print-sha256", action="store_true",
                    help="print the installed sources' sha256 (to record in eval/sources.sha256)")
    args = ap.parse_args(argv)
    if args.print_sha256:
        for name in SOURCES:
            print(f"{_sha256(source_path(name))}  {name}")
        return 0
    items = build(args.out)
    n_frames = sum(len(i.frames) for i in items)
    print(f"{len(items)} items, {n_frames} frames -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
