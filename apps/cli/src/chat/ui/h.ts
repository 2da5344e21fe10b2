/** Node runs these files by stripping types and cannot run JSX: components call `h`. */
import React from "react"

export const h = React.createElement
