"""Gradio pieces every Space's page uses (Gradio is imported when one is made, not here)."""

from __future__ import annotations


def any_json(**kwargs):
    """A JSON input whose API schema is valid JSON Schema: gr.JSON declares `"type": {}`, which
    MCP clients reject; no type at all means any JSON value. (An instance override, because a
    gr.JSON subclass makes Gradio write an app.pyi beside the app.)"""
    import gradio as gr

    component = gr.JSON(**kwargs)
    component.api_info = lambda: {"description": "any valid JSON"}
    return component
