"""The machinery every engine operator shares (generate, inpaint, outpaint).

Every engine operator is split in three steps so the same code serves scripts and the UI:

1. ``plan`` (main thread): validate the input and read the scene (armature, rest pose, the
   existing animation read back as joints).  Bad input raises :class:`UserError` -> reported,
   nothing changed.
2. ``work(progress)`` (worker thread, no bpy): engine call + retargeting -> numbers.
3. ``apply(context, result)`` (main thread): create/modify the action.

``execute`` (scripts, ``bpy.ops.bamm.generate(prompt=...)``, background mode) runs 2 in the
calling thread.  ``invoke`` (a click in the UI) runs 2 in a :class:`~.jobs.Job` polled by a
modal timer: progress bar + status text, Esc cancels and discards the result (the scene is
untouched until 3).  Operators carry the UNDO flag: one undo step per operation.
"""
from __future__ import annotations

import bpy
from bpy.props import IntProperty, StringProperty

from . import jobs
from .core import submodule
from .rig import UserError
from .settings import shared_settings


class Plan:
    """What an operator will do: ``work`` runs anywhere, ``apply`` on the main thread."""

    def __init__(self, work, apply, label: str):
        self.work, self.apply, self.label = work, apply, label


def settings(context):
    return context.scene.bamm


def prompt_text(op) -> str:
    try:
        return submodule("generation.prompt").check_prompt(op.prompt)
    except ValueError as e:
        raise UserError(str(e)) from None


def scene_fps(scene) -> float:
    return scene.render.fps / scene.render.fps_base


def checked_seconds(timebase, seconds: float, name: str, lo=None, hi=None) -> int:
    """Seconds (a float property: single precision) -> model frames through the model's
    timebase; its message as a UserError."""
    try:
        return timebase.check_seconds(float(f"{seconds:.6g}"), name, lo=lo, hi=hi)
    except ValueError as e:
        raise UserError(str(e)) from None


def feet_lock(op, retargeter) -> tuple[bool, str]:
    """(lock the rig's feet?, a note for the report) from the operator's ``plant_feet``: a rig
    without recognisable feet is not locked, and the note says why (never an error)."""
    if not getattr(op, "plant_feet", True):  # on unless the caller turned it off
        return False, ""
    message = submodule("rigs.pipeline").feet_message(retargeter)
    return message is None, "" if message is None else f" ({message})"


def contacts_for(lock: bool, motion):
    """The motion's foot contacts to lock the rig's feet with (None: no locking).  Every
    motion the engine delivers has them; a motion without them (a stand-in) is not locked."""
    return getattr(motion, "contacts", None) if lock else None


def lookup_armature(name: str):
    ob = bpy.data.objects.get(name)
    if ob is None or ob.type != "ARMATURE":
        raise UserError(f"armature {name!r} was removed while the motion was computed")
    return ob


# names copied from the scene's BAMM settings unless the caller set them
SHARED = ("prompt", "seed", "guidance", "refine", "rig_preset", "custom_map", "in_place", "blend_frames",
          "plant_feet")


class EngineOperator:
    bl_options = {"REGISTER", "UNDO"}

    prompt: StringProperty(name="Prompt", description="What the character does")
    seed: IntProperty(name="Seed", default=0, min=0)
    armature: StringProperty(name="Armature", description="Target armature object (empty: the active object)")

    _job = None
    _timer = None
    _running = None  # the Plan of a modal run
    extra_shared: tuple = ()

    @classmethod
    def poll(cls, context):
        return not jobs.busy()  # one engine run at a time from the UI

    def _fill_from_scene(self, context) -> None:
        s = settings(context)
        for name in SHARED + self.extra_shared:
            if not self.properties.is_property_set(name) and hasattr(s, name):
                setattr(self, name, getattr(s, name))

    plan_fn = None  # per operator: plan_xxx(op, context) -> Plan (op: anything with its properties)

    def _plan(self, context) -> Plan | None:
        """The operator's plan from its properties and the scene, or None after reporting
        why it cannot run (bad input changes nothing)."""
        self._fill_from_scene(context)
        try:
            return type(self).plan_fn(self, context)
        except UserError as e:
            self.report({"ERROR"}, str(e))
            return None

    # -- running ------------------------------------------------------------------------
    def execute(self, context):
        plan = self._plan(context)
        if plan is None:
            return {"CANCELLED"}
        job = jobs.Job(plan.work).run_here()
        return self._finish(context, plan, job)

    def invoke(self, context, event):
        if bpy.app.background or context.window is None:
            return self.execute(context)
        plan = self._plan(context)
        if plan is None:
            return {"CANCELLED"}
        self._running = plan
        self._job = jobs.Job(plan.work).start()
        jobs.set_busy(self._job)
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        wm.progress_begin(0, 1000)
        return {"RUNNING_MODAL"}

    def _cleanup(self, context) -> None:
        jobs.set_busy(None)
        wm = context.window_manager
        if self._timer is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.progress_end()
        if context.workspace:
            context.workspace.status_text_set(None)

    def modal(self, context, event):
        job = self._job
        if event.type == "ESC":
            job.cancel()
            self._cleanup(context)
            self.report({"WARNING"}, f"{self._running.label}: cancelled, nothing changed")
            return {"CANCELLED"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        if job.state == "running":
            frac = job.done / job.total if job.total else 0.0
            context.window_manager.progress_update(int(1000 * frac))
            if context.workspace:
                context.workspace.status_text_set(
                    f"BAMM: {self._running.label} {job.done}/{job.total or '?'} — Esc to cancel")
            return {"PASS_THROUGH"}
        self._cleanup(context)
        return self._finish(context, self._running, job)

    def _finish(self, context, plan, job):
        if job.state == "cancelled":
            self.report({"WARNING"}, f"{plan.label}: cancelled, nothing changed")
            return {"CANCELLED"}
        if job.state == "error":
            e = job.error
            self.report({"ERROR"}, f"{plan.label} failed: {type(e).__name__}: {e}")
            return {"CANCELLED"}
        try:
            msg = plan.apply(context, job.result)
        except UserError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self.report({"INFO"}, msg)
        return {"FINISHED"}


EngineOperator.__annotations__.update(shared_settings())  # guidance, refinement, rig, blend ...


